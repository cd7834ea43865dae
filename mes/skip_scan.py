"""The distinct values of an indexed column, read by jumping through its index.

`SELECT DISTINCT column` reads every row: the messages' error-code filter did
so on each page of the back office. PostgreSQL (15) has no skip scan, so this
walks the index itself, one `min(column) WHERE column > previous` per value:
a handful of index probes for a handful of values, however many rows hold
them. The column needs a btree index whose condition `where` implies
(tests/execution/admin/test_list_searches.py checks the values it finds). Same SQL on SQLite.
"""

from django.db import connections


def distinct_values(table: str, column: str, where: str = "TRUE", *, using="default") -> list:
    """The sorted distinct non-null values of `table.column` among rows matching `where`.

    `table`, `column` and `where` are SQL written in our code, never user input.
    """
    sql = (
        f"WITH RECURSIVE found(v) AS ("
        f" SELECT (SELECT min({column}) FROM {table} WHERE {where})"
        f" UNION ALL"
        f" SELECT (SELECT min({column}) FROM {table} WHERE {where} AND {column} > found.v)"
        f" FROM found WHERE found.v IS NOT NULL"
        f") SELECT v FROM found WHERE v IS NOT NULL"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]
