{#-
    Every person record role ever loaded (all versions): raw.person_roles is
    append-only, so an incremental build appends the versions it has not seen.
    Generalised attributes only: encodings of identifiers are in the linkage
    vault, never in the warehouse (docs/data-protection.md).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
    )
}}

with

person_roles as (
    select * from {{ source('raw', 'person_roles') }}
),

final as (
    select
        source_id,
        agency,
        source_table,
        record_ref,
        role,
        version_id,
        birth_year,
        sex,
        postcode_district
    from person_roles
    {%- if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as built
            where built.version_id = person_roles.version_id
        )
    {%- endif %}
)

select * from final
