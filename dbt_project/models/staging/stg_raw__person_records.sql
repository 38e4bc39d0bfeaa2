{#-
    Every person record role ever loaded (all versions): raw.person_records is
    append-only, so an incremental build appends the versions it has not seen.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
    )
}}

with

person_records as (
    select * from {{ source('raw', 'person_records') }}
),

final as (
    select
        source_id,
        agency,
        source_table,
        record_ref,
        role,
        version_id,
        key_version,
        pnc_token,
        nhs_token,
        crn_token,
        name_dob_token,
        dob_token,
        postcode_token,
        birth_year,
        sex,
        postcode_district,
        forename_bloom_ym,
        forename_bloom_yd,
        forename_bloom_u,
        forename_bloom_pc,
        surname_bloom_ym,
        surname_bloom_yd,
        surname_bloom_u,
        surname_bloom_pc,
        postcode_bloom,
        forename_token,
        surname_token,
        forename_variant_tokens,
        name_pair_token,
        partner_salt_token,
        forename_partner_bloom,
        surname_partner_bloom,
        dob_unordered_token,
        dob_year_month_token,
        dob_year_day_token
    from person_records
    {%- if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as built
        where built.version_id = person_records.version_id
    )
    {%- endif %}
)

select * from final
