{#-
    Person record roles of live versions only, with their generalised
    attributes. A role belongs to the row version it was read from, so roles
    of superseded versions and of DELETED records (whose live version was
    dropped in staging) fall out here. The linkage stage reads this model
    (tag linkage_input: built before it) and joins the roles to their
    encodings in the vault. Each role carries the date its record was first
    delivered: the linkage names a person after its first-delivered record,
    so a record delivered later never renames the person it joins.
-#}
{{ config(tags=['linkage_input']) }}

with

person_roles as (
    select * from {{ ref('stg_raw__person_roles') }}
),

first_deliveries as (
    select * from {{ ref('int_first_deliveries') }}
),

crimes as (
    select * from {{ ref('stg_police__crimes') }}
),

orders as (
    select * from {{ ref('stg_police__orders') }}
),

supervision as (
    select * from {{ ref('stg_probation__supervision') }}
),

contacts as (
    select * from {{ ref('stg_health__contacts') }}
),

cases as (
    select * from {{ ref('stg_advocacy__cases') }}
),

live_versions as (
    select
        'crimes' as source_table,
        version_id
    from crimes
    union all
    select
        'orders' as source_table,
        version_id
    from orders
    union all
    select
        'supervision' as source_table,
        version_id
    from supervision
    union all
    select
        'contacts' as source_table,
        version_id
    from contacts
    union all
    select
        'cases' as source_table,
        version_id
    from cases
),

final as (
    select
        person_roles.source_id,
        person_roles.agency,
        person_roles.source_table,
        person_roles.record_ref,
        person_roles.role,
        person_roles.version_id,
        person_roles.birth_year,
        person_roles.sex,
        person_roles.postcode_district,
        first_deliveries.first_extract_date as first_delivered_date
    from person_roles
    inner join live_versions
        on
            person_roles.source_table = live_versions.source_table
            and person_roles.version_id = live_versions.version_id
    left join first_deliveries
        on
            person_roles.source_id = first_deliveries.source_id
            and person_roles.source_table = first_deliveries.source_table
            and person_roles.record_ref = first_deliveries.record_ref
)

select * from final
