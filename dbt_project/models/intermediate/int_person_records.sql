{#-
    Person record roles of live versions only. A role belongs to the row
    version it was read from, so roles of superseded versions and of
    DELETED records (whose live version was dropped in staging) fall out here.
-#}
with

person_records as (
    select * from {{ ref('stg_raw__person_records') }}
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
        person_records.source_id,
        person_records.agency,
        person_records.source_table,
        person_records.record_ref,
        person_records.role,
        person_records.version_id,
        person_records.key_version,
        person_records.pnc_token,
        person_records.nhs_token,
        person_records.crn_token,
        person_records.name_dob_token,
        person_records.dob_token,
        person_records.postcode_token,
        person_records.birth_year,
        person_records.sex,
        person_records.postcode_district,
        person_records.forename_bloom_ym,
        person_records.forename_bloom_yd,
        person_records.forename_bloom_u,
        person_records.forename_bloom_pc,
        person_records.surname_bloom_ym,
        person_records.surname_bloom_yd,
        person_records.surname_bloom_u,
        person_records.surname_bloom_pc,
        person_records.postcode_bloom,
        person_records.forename_token,
        person_records.surname_token,
        person_records.forename_variant_tokens,
        person_records.name_pair_token,
        person_records.partner_salt_token,
        person_records.forename_partner_bloom,
        person_records.surname_partner_bloom,
        person_records.dob_unordered_token,
        person_records.dob_year_month_token,
        person_records.dob_year_day_token
    from person_records
    inner join live_versions
        on
            person_records.source_table = live_versions.source_table
            and person_records.version_id = live_versions.version_id
)

select * from final
