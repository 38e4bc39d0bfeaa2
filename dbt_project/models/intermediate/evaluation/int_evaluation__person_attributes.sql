{#-
    One row per person: the year of birth used for age bands, the most
    common year of birth over the person's live record roles (ties: the
    earlier year). Persons with no year of birth on any role have null.
-#}
with

person_links as (
    select * from {{ ref('stg_linkage__person_links') }}
),

person_records as (
    select * from {{ ref('int_person_records') }}
),

birth_years as (
    select
        person_links.person_id,
        person_records.birth_year,
        count(*) as role_count
    from person_links
    inner join person_records
        on
            person_links.source_id = person_records.source_id
            and person_links.source_table = person_records.source_table
            and person_links.record_ref = person_records.record_ref
            and person_links.role = person_records.role
    where person_records.birth_year is not null
    group by person_links.person_id, person_records.birth_year
),

persons as (
    select distinct person_id
    from person_links
),

modal_birth_years as (
    {{ first_row_per(
        'birth_years',
        partition_by='person_id',
        order_by='role_count desc, birth_year asc',
        columns='person_id, birth_year'
    ) }}
),

final as (
    select
        persons.person_id,
        modal_birth_years.birth_year
    from persons
    left join modal_birth_years
        on persons.person_id = modal_birth_years.person_id
)

select * from final
