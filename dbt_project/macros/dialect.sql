{#-
    SQL that differs between engines, behind adapter.dispatch (issue #7).

    The models call <name>(...); it dispatches (namespace masip) to
    <adapter>__<name> for the target's adapter, else default__<name>:

    - duckdb__ renders the SQL the DuckDB models always used (the DuckDB
      build and every dbt test run on it);
    - trino__ renders Trino SQL (checked by tests/test_second_adapter.py with
      `dbt compile --target trino`; see docs/national-deployment.md);
    - default__ is the portable (ANSI or dbt cross-database) form where one
      exists, and a compile error naming the missing implementation where none
      does, so that a third adapter fails loudly instead of compiling DuckDB SQL.

    Names avoid dbt's own cross-database macros (datediff, dateadd, listagg,
    generate_series, hash, ...), which a root-project macro of the same name
    would shadow. Wrappers print the dispatched macro (no modules.* or
    return() needed) so that sqlfluff's jinja templater, with the stub
    sqlfluff_libs/adapter.py, renders the DuckDB form when linting.
-#}

{%- macro masip_no_implementation(name) -%}
    {{ exceptions.raise_compiler_error(
        name ~ " has no implementation for adapter '" ~ adapter.type() ~ "': add "
        ~ adapter.type() ~ "__" ~ name ~ " to dbt_project/macros/dialect.sql"
    ) }}
{%- endmacro -%}


{#- ------------------------------------------------------------------------
    first_row_per: the rows of `relation` (a CTE or relation name) that come
    first in their partition, i.e. row_number() over (...) = 1, after `where`.
    DuckDB says it with QUALIFY; Trino has no QUALIFY, so the portable form
    ranks in a subquery. With columns='*' that form also returns the rank
    column masip_row_number: callers select their columns explicitly.
------------------------------------------------------------------------- -#}
{% macro first_row_per(relation, partition_by, order_by, where=none, columns='*') -%}
    {{ adapter.dispatch('first_row_per', 'masip')(
        relation, partition_by, order_by, where, columns
    ) }}
{%- endmacro %}

{% macro duckdb__first_row_per(relation, partition_by, order_by, where, columns) -%}
    select {{ columns }}
    from {{ relation }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    qualify row_number() over (
        partition by {{ partition_by }}
        order by {{ order_by }}
    ) = 1
{%- endmacro %}

{% macro default__first_row_per(relation, partition_by, order_by, where, columns) -%}
    select {{ columns }}
    from (
        select
            *,
            row_number() over (
                partition by {{ partition_by }}
                order by {{ order_by }}
            ) as masip_row_number
        from {{ relation }}
        {%- if where %}
        where {{ where }}
        {%- endif %}
    ) as ranked
    where masip_row_number = 1
{%- endmacro %}


{#- ------------------------------------------------------------------------
    md5_prefix: the first `length` lowercase hex digits of md5(expr), expr a
    varchar. Trino's md5 takes and returns varbinary.
------------------------------------------------------------------------- -#}
{% macro md5_prefix(expr, length) -%}
    {{ adapter.dispatch('md5_prefix', 'masip')(expr, length) }}
{%- endmacro %}

{% macro duckdb__md5_prefix(expr, length) -%}
    left(md5({{ expr }}), {{ length }})
{%- endmacro %}

{% macro default__md5_prefix(expr, length) -%}
    substr(md5({{ expr }}), 1, {{ length }})
{%- endmacro %}

{% macro trino__md5_prefix(expr, length) -%}
    substr(lower(to_hex(md5(to_utf8({{ expr }})))), 1, {{ length }})
{%- endmacro %}


{#- ------------------------------------------------------------------------
    string_agg_ordered: aggregate varchar `expr` into one string joined by
    `separator`, in `order_by` order; nulls skipped, null for no values.
    distinct=true keeps each value once and then order_by must be `expr`.
------------------------------------------------------------------------- -#}
{% macro string_agg_ordered(expr, separator, order_by, distinct=false) -%}
    {%- if distinct and order_by != expr -%}
        {{ exceptions.raise_compiler_error(
            "string_agg_ordered: with distinct=true order_by must be the aggregated expression ("
            ~ expr ~ "), got " ~ order_by
        ) }}
    {%- endif -%}
    {{ adapter.dispatch('string_agg_ordered', 'masip')(expr, separator, order_by, distinct) }}
{%- endmacro %}

{% macro duckdb__string_agg_ordered(expr, separator, order_by, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}

{#- SQL:2016 LISTAGG. -#}
{% macro default__string_agg_ordered(expr, separator, order_by, distinct) -%}
    listagg({{ 'distinct ' if distinct }}{{ expr }}, {{ separator }})
    within group (order by {{ order_by }})
{%- endmacro %}

{#- Trino's listagg has no DISTINCT: de-duplicate and sort an array instead. -#}
{% macro trino__string_agg_ordered(expr, separator, order_by, distinct) -%}
    {%- if distinct -%}
        array_join(
            array_sort(array_distinct(array_agg({{ expr }}) filter (where {{ expr }} is not null))),
            {{ separator }}
        )
    {%- else -%}
        listagg({{ expr }}, {{ separator }}) within group (order by {{ order_by }})
    {%- endif -%}
{%- endmacro %}


{#- ------------------------------------------------------------------------
    format_timestamp: a date or timestamp as text, with a strftime format
    made of %Y %m %d %H %M %S and literal characters.
------------------------------------------------------------------------- -#}
{% macro format_timestamp(expr, strftime_format) -%}
    {%- for piece in strftime_format.split('%')[1:] -%}
        {%- if piece[:1] not in ['Y', 'm', 'd', 'H', 'M', 'S'] -%}
            {{ exceptions.raise_compiler_error(
                "format_timestamp supports %Y %m %d %H %M %S only, got %" ~ piece[:1]
                ~ " in " ~ strftime_format
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {{ adapter.dispatch('format_timestamp', 'masip')(expr, strftime_format) }}
{%- endmacro %}

{% macro duckdb__format_timestamp(expr, strftime_format) -%}
    strftime({{ expr }}, '{{ strftime_format }}')
{%- endmacro %}

{% macro default__format_timestamp(expr, strftime_format) -%}
    {{ masip_no_implementation('format_timestamp') }}
{%- endmacro %}

{#- Trino's date_format uses MySQL codes: minutes are %i, seconds %s. -#}
{% macro trino__format_timestamp(expr, strftime_format) -%}
    {%- set mysql_format = strftime_format | replace('%M', '%i') | replace('%S', '%s') -%}
    date_format(cast({{ expr }} as timestamp), '{{ mysql_format }}')
{%- endmacro %}


{#- ------------------------------------------------------------------------
    date_diff: number of `unit` boundaries (day, hour, minute, ...) crossed
    from `start` to `end` (DuckDB's date_diff, dbt's datediff). Trino's
    date_diff counts whole units instead (10:00:59 -> 10:01:00 is 0 minutes,
    not 1), so both ends are truncated to the unit first.
------------------------------------------------------------------------- -#}
{% macro date_diff(unit, start, end) -%}
    {{ adapter.dispatch('date_diff', 'masip')(unit, start, end) }}
{%- endmacro %}

{% macro duckdb__date_diff(unit, start, end) -%}
    date_diff('{{ unit }}', {{ start }}, {{ end }})
{%- endmacro %}

{% macro default__date_diff(unit, start, end) -%}
    {{ dbt.datediff(start, end, unit) }}
{%- endmacro %}

{% macro trino__date_diff(unit, start, end) -%}
    date_diff(
        '{{ unit }}', date_trunc('{{ unit }}', {{ start }}), date_trunc('{{ unit }}', {{ end }})
    )
{%- endmacro %}


{#- ------------------------------------------------------------------------
    add_interval / subtract_interval: `expr` (date or timestamp) plus or
    minus `amount` (an integer expression) of `unit` (hour, day, month).
    Months are calendar months clamped to the month end on both engines.
    On DuckDB the result is a timestamp (callers cast to date where they need
    one); on Trino it keeps the type of `expr`.
------------------------------------------------------------------------- -#}
{% macro add_interval(expr, amount, unit) -%}
    {{ adapter.dispatch('add_interval', 'masip')(expr, amount, unit, '+') }}
{%- endmacro %}

{% macro subtract_interval(expr, amount, unit) -%}
    {{ adapter.dispatch('add_interval', 'masip')(expr, amount, unit, '-') }}
{%- endmacro %}

{% macro duckdb__add_interval(expr, amount, unit, sign) -%}
    {{ expr }} {{ sign }} to_{{ unit }}s({{ amount }})
{%- endmacro %}

{% macro default__add_interval(expr, amount, unit, sign) -%}
    {{ dbt.dateadd(unit, ('-' if sign == '-' else '') ~ '(' ~ amount ~ ')', expr) }}
{%- endmacro %}


{#- ------------------------------------------------------------------------
    add_days: a date plus an integer number of days, as a date.
------------------------------------------------------------------------- -#}
{% macro add_days(date_expr, days) -%}
    {{ adapter.dispatch('add_days', 'masip')(date_expr, days) }}
{%- endmacro %}

{% macro duckdb__add_days(date_expr, days) -%}
    {{ date_expr }} + {{ days }}
{%- endmacro %}

{% macro default__add_days(date_expr, days) -%}
    {{ dbt.dateadd('day', days, date_expr) }}
{%- endmacro %}


{#- ------------------------------------------------------------------------
    greatest_ignoring_nulls / least_ignoring_nulls: the largest (smallest)
    non-null value of `values` (a list of expressions); null when all are
    null. DuckDB, PostgreSQL and Spark's greatest/least skip nulls; Trino's
    return null as soon as one argument is null.
------------------------------------------------------------------------- -#}
{% macro greatest_ignoring_nulls(values) -%}
    {{ adapter.dispatch('extreme_ignoring_nulls', 'masip')(values, 'greatest') }}
{%- endmacro %}

{% macro least_ignoring_nulls(values) -%}
    {{ adapter.dispatch('extreme_ignoring_nulls', 'masip')(values, 'least') }}
{%- endmacro %}

{% macro default__extreme_ignoring_nulls(values, which) -%}
    {{ which }}({{ values | join(', ') }})
{%- endmacro %}

{% macro trino__extreme_ignoring_nulls(values, which) -%}
    array_{{ 'max' if which == 'greatest' else 'min' }}(
        filter(array[{{ values | join(', ') }}], value -> value is not null)
    )
{%- endmacro %}


{#- ------------------------------------------------------------------------
    quantile_disc: the exact discrete quantile of `expr` (an observed value,
    no interpolation) over the rows where `where` holds. For n values it is
    the value at position floor((n - 1) * quantile) + 1 in ascending order
    (DuckDB's quantile_disc; for the median that is also percentile_disc's
    ceil(n / 2)). Trino has only approx_percentile, so the values are
    sorted into an array and indexed.
------------------------------------------------------------------------- -#}
{% macro quantile_disc(expr, quantile, where=none) -%}
    {{ adapter.dispatch('quantile_disc', 'masip')(expr, quantile, where) }}
{%- endmacro %}

{% macro duckdb__quantile_disc(expr, quantile, where) -%}
    quantile_disc({{ expr }}, {{ quantile }})
    {%- if where %}
    filter (where {{ where }})
    {%- endif %}
{%- endmacro %}

{% macro default__quantile_disc(expr, quantile, where) -%}
    percentile_disc({{ quantile }}) within group (order by {{ expr }})
    {%- if where %}
    filter (where {{ where }})
    {%- endif %}
{%- endmacro %}

{% macro trino__quantile_disc(expr, quantile, where) -%}
    {%- set rows = '(' ~ where ~ ')' if where else 'true' -%}
    element_at(
        array_sort(array_agg({{ expr }}) filter (where {{ rows }} and {{ expr }} is not null)),
        greatest(
            cast(floor((count({{ expr }}) filter (where {{ rows }}) - 1) * {{ quantile }}) as bigint)
            + 1,
            1
        )
    )
{%- endmacro %}


{#- ------------------------------------------------------------------------
    make_date: the date of integer year, month and day expressions.
------------------------------------------------------------------------- -#}
{% macro make_date(year, month, day) -%}
    {{ adapter.dispatch('make_date', 'masip')(year, month, day) }}
{%- endmacro %}

{% macro default__make_date(year, month, day) -%}
    make_date({{ year }}, {{ month }}, {{ day }})
{%- endmacro %}

{% macro trino__make_date(year, month, day) -%}
    cast(format('%04d-%02d-%02d', {{ year }}, {{ month }}, {{ day }}) as date)
{%- endmacro %}


{#- ------------------------------------------------------------------------
    integer_range: a table expression with one row per integer from `start`
    to `stop` inclusive, for `cross join {{ ... }} as alias (column)`.
------------------------------------------------------------------------- -#}
{% macro integer_range(start, stop) -%}
    {{ adapter.dispatch('integer_range', 'masip')(start, stop) }}
{%- endmacro %}

{% macro default__integer_range(start, stop) -%}
    generate_series({{ start }}, {{ stop }})
{%- endmacro %}

{% macro trino__integer_range(start, stop) -%}
    unnest(sequence({{ start }}, {{ stop }}))
{%- endmacro %}


{#- ------------------------------------------------------------------------
    union_all_by_name: `select <columns> from <relation>` for every relation,
    joined by UNION ALL. Replaces DuckDB's UNION ALL BY NAME with an explicit
    column list that every engine accepts; the DuckDB build runs this same
    SQL, so a column missing from the list or from a relation fails there.
------------------------------------------------------------------------- -#}
{% macro union_all_by_name(relations, columns) -%}
    {{ adapter.dispatch('union_all_by_name', 'masip')(relations, columns) }}
{%- endmacro %}

{% macro default__union_all_by_name(relations, columns) -%}
    {%- for relation in relations -%}
    {%- if not loop.first %}
    union all
    {% endif -%}
    select {{ columns | join(', ') }} from {{ relation }}
    {%- endfor -%}
{%- endmacro %}


{#- ------------------------------------------------------------------------
    python_model_relation: the table of the project's Python model
    (attrition_disclosure_cells). Where dbt runs Python
    models (dbt-duckdb) that is ref(); elsewhere (dbt-trino runs none) the
    Python model is disabled (dbt_project.yml) and the same code runs as a
    separate job that writes the table into schema python_jobs, read here as
    source('python_jobs', ...). See docs/national-deployment.md.
------------------------------------------------------------------------- -#}
{% macro python_model_relation(model_name) -%}
    {{ return(adapter.dispatch('python_model_relation', 'masip')(model_name)) }}
{%- endmacro %}

{% macro duckdb__python_model_relation(model_name) -%}
    {{ return(ref(model_name)) }}
{%- endmacro %}

{% macro default__python_model_relation(model_name) -%}
    {{ return(source('python_jobs', model_name)) }}
{%- endmacro %}


{#- ------------------------------------------------------------------------
    text_type: the variable-length string type, for cast(... as text_type()).
    DuckDB and Trino say varchar; Spark SQL wants a length after varchar
    and says string.
------------------------------------------------------------------------- -#}
{% macro text_type() -%}
    {{ adapter.dispatch('text_type', 'masip')() }}
{%- endmacro %}

{% macro default__text_type() -%}
    varchar
{%- endmacro %}

{% macro spark__text_type() -%}
    string
{%- endmacro %}


{#- ------------------------------------------------------------------------
    Spark SQL (dbt-spark, method session; issue #16). Only what differs from
    default__ above; the equivalence test (tests/test_spark_equivalence.py)
    checks the marts against the DuckDB build.
------------------------------------------------------------------------- -#}

{#- Java DateTimeFormatter letters; the literal characters between the codes
    must not be letters (they would need quoting). -#}
{% macro spark__format_timestamp(expr, strftime_format) -%}
    {%- set codes = {'Y': 'yyyy', 'm': 'MM', 'd': 'dd', 'H': 'HH', 'M': 'mm', 'S': 'ss'} -%}
    {%- set pieces = strftime_format.split('%') -%}
    {%- set java = namespace(format=pieces[0]) -%}
    {%- for piece in pieces[1:] -%}
        {%- set java.format = java.format ~ codes[piece[:1]] ~ piece[1:] -%}
    {%- endfor -%}
    {%- if modules.re.search('[A-Za-z]', strftime_format | replace('%Y', '') | replace('%m', '')
        | replace('%d', '') | replace('%H', '') | replace('%M', '') | replace('%S', '')) -%}
        {{ exceptions.raise_compiler_error(
            "spark__format_timestamp: letters between the codes need quoting, got " ~ strftime_format
        ) }}
    {%- endif -%}
    date_format({{ expr }}, '{{ java.format }}')
{%- endmacro %}

{#- timestampdiff counts whole units (like Trino): truncate both ends first. -#}
{% macro spark__date_diff(unit, start, end) -%}
    timestampdiff(
        {{ unit }}, date_trunc('{{ unit }}', {{ start }}), date_trunc('{{ unit }}', {{ end }})
    )
{%- endmacro %}

{#- A timestamp, as on DuckDB; months clamp to the month end. -#}
{% macro spark__add_interval(expr, amount, unit, sign) -%}
    timestampadd({{ unit }}, {{ sign }}({{ amount }}), {{ expr }})
{%- endmacro %}

{% macro spark__add_days(date_expr, days) -%}
    date_add({{ date_expr }}, {{ days }})
{%- endmacro %}

{#- The arguments may name columns of the left side of the join: a lateral subquery. -#}
{% macro spark__integer_range(start, stop) -%}
    lateral (select explode(sequence({{ start }}, {{ stop }})))
{%- endmacro %}

{#- Spark's listagg (4.x) fails on a qualified column in WITHIN GROUP with
    DISTINCT (ClassCastException in the analyser), so collect into an array,
    sort it and join. Without distinct, each value travels in a struct behind
    its sort keys (order_by: ascending columns or expressions, no desc). -#}
{% macro spark__string_agg_ordered(expr, separator, order_by, distinct) -%}
    {%- if distinct -%}
        {%- set values = 'array_sort(collect_set(' ~ expr ~ '))' -%}
    {%- else -%}
        {%- set keys = order_by.split(',') | map('trim') | list -%}
        {%- for key in keys if key.lower().endswith((' desc', ' asc')) -%}
            {{ exceptions.raise_compiler_error(
                "spark__string_agg_ordered: order_by takes ascending keys only, got " ~ order_by
            ) }}
        {%- endfor -%}
        {%- set fields = [] -%}
        {%- for key in keys -%}
            {%- do fields.append("'k" ~ loop.index ~ "', " ~ key) -%}
        {%- endfor -%}
        {%- set values -%}
            transform(
                array_sort(collect_list(
                    case when {{ expr }} is not null
                        then named_struct({{ fields | join(', ') }}, 'value', {{ expr }}) end
                )),
                entry -> entry.value
            )
        {%- endset -%}
    {%- endif -%}
    case when count({{ expr }}) > 0 then array_join({{ values }}, {{ separator }}) end
{%- endmacro %}
