r"""The ``where`` language of ``Archive.scan(columns=None, where=None)``.

Examples::

    port == 443 and proto in ["tcp", "udp"]
    `id.resp_p` >= 1024 or not exists `id.resp_p`
    host.name startswith "www." and (status == null or tags contains "slow")
    msg matches "^GET /[a-z]+" AND NOT user.`first.name` == 'bob'
    $ contains "ERROR" and not $ matches "heartbeat|keepalive"     -- lines of a text archive

Grammar (keywords are case-insensitive; whitespace is free between tokens)::

    expr      := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | atom                  -- so: not > and > or
    atom      := "(" expr ")"
               | "exists" path                          -- prefix form only
               | path CMP literal | literal CMP path    -- `443 == port` is `port == 443`
               | path "in" "[" [literal ("," literal)* [","]] "]"
               | path "startswith" (string | bytes)
               | path "contains" literal
               | path "matches" (string | bytes)        -- a Python regex, re.search
    CMP       := "==" | "!=" | "<" | "<=" | ">" | ">="
    path      := "$" | key ("." key)*                  -- "$": the record itself
    key       := identifier | `backquoted`              -- [A-Za-z_][A-Za-z0-9_]*; a backquote
                                                        --   inside backquotes is doubled: ``
    literal   := integer | float | string | bytes | "true" | "false" | "null"

A path is a tuple of str keys: ``a.`b.c`.d`` is ``("a", "b.c", "d")``. The *first* key of a path
must be backquoted if it is a keyword (```null` == 1``); later keys may be bare keywords.
The root path ``$`` names the whole record, e.g. the line (a str, or bytes when not UTF-8) of
an archive of text lines: ``$ contains "ERROR"``, ``$ matches b"^\xff"``. It is the empty
path tuple :data:`ROOT` (``ROOT == ()``; the node constructors take ``ROOT``, not a bare
``()``); it takes no keys (``$.a`` is an error: write ``a``), and a key named ``$`` is
written backquoted, ```$```.
Integers have any size (``-12``, ``123456789012345678901234567890``); floats have a dot or an
exponent (``1.5``, ``-.5``, ``2e10``; ``1e999`` is infinity; there is no NaN literal). Strings
use single or double quotes with backslash escapes ``\\ \' \" \/ \n \r \t \b \f \0
\xHH \uXXXX`` (JSON surrogate pairs combine) ``\UXXXXXXXX``. Bytes literals are ``b"..."``
(ASCII characters and the same escapes except ``\u``/``\U``). Two paths cannot be compared with
each other; ``x not in [...]`` is spelled ``not x in [...]``.

Semantics (``evaluate`` on columns and ``matches`` on one record agree exactly):

* A record's value at a path is found by walking nested dicts (at ``$``: the record itself,
  which is never MISSING); a path absent from the record,
  or running through a non-dict, gives :data:`MISSING` (distinct from JSON ``null``/None).
* Comparisons are typed like JSON. int and float compare numerically with each other and
  *exactly* (no float rounding, integers of any size); bool equals only bool (``x == 1`` is
  False for ``x = true``, ``true == 1`` for nothing); str compares with str (by code point);
  bytes with bytes; null equals only null. Ordering (``< <= > >=``) is defined for
  number/number, str/str and bytes/bytes only: with bool or null it is False.
* A comparison between incompatible kinds is False (never an error), and every test of a
  MISSING value is False. ``!=`` is "present and not ``==``": ``x != 5`` holds for
  ``x = "a"`` or ``x = null`` but not when ``x`` is absent; ``x != null`` holds for present
  non-null values. Lists and dicts equal no literal (so ``!=`` holds for them).
* ``x in [a, b, ...]`` is ``x == a or x == b or ...`` (``in []`` is always False).
* ``x startswith s`` / ``x matches re``: str values with a str literal/pattern, bytes values
  with a bytes literal/pattern; other values give False. ``matches`` is ``re.search``.
* ``x contains v``: a str (bytes) value containing ``v`` as a substring when ``v`` is a str
  (bytes); a list value having an element typed-equal (as ``==``) to ``v``; else False.
* ``exists x``: the record has the path (its value may be null).
* ``not`` is plain boolean negation: ``not x == 5`` holds where x is absent.
* NaN values (not JSON, but possible in float columns) equal nothing and order with nothing.

API::

    expr = parse(text)            # -> Expr; QuerySyntaxError (a ValueError) pointing at the column
    expr.paths                    # the path tuples read, first-use order, no duplicates
    expr.evaluate(columns, n)     # -> bool ndarray; columns: {path: typed or object ndarray}
    expr.matches(record)          # -> bool for one plain record: the reference model
    expr.may_match(stats)         # -> False only if no record summarized by stats can match
    str(expr)                     # canonical text; parse(str(expr)) == expr

``columns[path]`` is either a typed int/float/bool array (every record has a present non-null
value of that type) or an object array of Python values with MISSING where absent; a path not
in ``columns`` counts as absent from every record. ``stats`` maps a path to a
:class:`PathStats` (or None / no entry: unknown, no pruning on it).
"""
from __future__ import annotations

from archive.errors import QuerySyntaxError
from archive.query.expr import And, Expr, Not, Or
from archive.query.parse import parse
from archive.query.predicates import Compare, Contains, Exists, In, Matches, StartsWith
from archive.query.prune import PathStats
from archive.query.values import MISSING, ROOT, lookup

__all__ = [
    "MISSING", "ROOT", "And", "Compare", "Contains", "Exists", "Expr", "In", "Matches", "Not", "Or",
    "PathStats", "QuerySyntaxError", "StartsWith", "lookup", "parse",
]
