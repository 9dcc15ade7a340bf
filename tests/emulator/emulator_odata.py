"""A small OData v4 ``$filter`` parser (recursive descent, no eval).

``parse_filter(text)`` returns a predicate ``item -> bool`` over plain dicts.

Supported: ``eq ne gt ge lt le``, ``and or not``, parentheses, ``in (...)``,
``startswith/endswith/contains(field,'x')``, ``tolower/toupper(field)``,
``collection/any(x: x eq 'v')``, string literals (``''`` escapes a quote),
unquoted ISO-8601 datetimes, numbers, ``true false null``.

String ``eq``/``ne``/``in`` is case-sensitive, except for properties listed in
``CASE_INSENSITIVE`` (``computerDnsName``), which MDE matches case-insensitively.
"""

import datetime as _dt
import re

__all__ = ["ODataError", "parse_filter", "CASE_INSENSITIVE"]

CASE_INSENSITIVE = frozenset({"computerDnsName"})


class ODataError(ValueError):
    """Malformed filter or unknown property."""


_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?"
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_COMPARE = ("eq", "ne", "gt", "ge", "lt", "le")


class _DateTime:
    """A datetime literal; compared against item strings via a sortable key."""

    __slots__ = ("key",)

    def __init__(self, text):
        self.key = datetime_key(text)


def datetime_key(text):
    """Fixed-width UTC string ``YYYY-MM-DDTHH:MM:SS.ffffff`` (sortable), or None."""
    if not isinstance(text, str):
        return None
    # Fast path for the emulator's own 7-digit ``...0000000Z`` format.
    if len(text) == 28 and text[-1] == "Z" and text[19] == ".":
        return text[:26]
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:\d{2})?", text)
    if not m:
        return None
    date, hh, mm, ss, frac, tz = m.groups()
    frac = (frac or "")[:6].ljust(6, "0")
    value = _dt.datetime.fromisoformat(
        f"{date}T{hh or '00'}:{mm or '00'}:{ss or '00'}.{frac}"
    )
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        value -= sign * _dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _tokenize(text):
    tokens, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),:/":
            tokens.append(("punct", c, i))
            i += 1
        elif c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise ODataError(f"Unterminated string literal at position {i}")
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            tokens.append(("str", "".join(buf), i))
            i = j + 1
        else:
            m = _GUID_RE.match(text, i)
            if m and not _IDENT_RE.match(text, m.end()):
                tokens.append(("str", m.group(0), i))
                i = m.end()
                continue
            m = _DATETIME_RE.match(text, i)
            if m and ("-" in m.group(0)[1:]) and len(m.group(0)) >= 10:
                tokens.append(("datetime", _DateTime(m.group(0)), i))
                i = m.end()
                continue
            m = _NUMBER_RE.match(text, i)
            if m:
                s = m.group(0)
                tokens.append(("num", float(s) if any(x in s for x in ".eE") else int(s), i))
                i = m.end()
                continue
            m = _IDENT_RE.match(text, i)
            if m:
                tokens.append(("ident", m.group(0), i))
                i = m.end()
                continue
            raise ODataError(f"Syntax error at position {i} in '{text}'")
    tokens.append(("end", None, n))
    return tokens


# --- AST nodes: each has .eval(item, env) -------------------------------------------


class _Lit:
    def __init__(self, value):
        self.value = value

    def eval(self, item, env):
        return self.value


class _Prop:
    def __init__(self, name):
        self.name = name
        self.ci = name in CASE_INSENSITIVE

    def eval(self, item, env):
        return item.get(self.name)


class _Var:
    def __init__(self, name):
        self.name = name
        self.ci = False

    def eval(self, item, env):
        return env.get(self.name)


class _Func:
    def __init__(self, name, args):
        self.name, self.args = name, args
        self.ci = False

    def eval(self, item, env):
        vals = [a.eval(item, env) for a in self.args]
        if self.name in ("tolower", "toupper", "trim"):
            v = vals[0]
            if not isinstance(v, str):
                return None
            return v.lower() if self.name == "tolower" else v.upper() if self.name == "toupper" else v.strip()
        a, b = vals
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        ci = getattr(self.args[0], "ci", False)
        if ci:
            a, b = a.lower(), b.lower()
        if self.name == "startswith":
            return a.startswith(b)
        if self.name == "endswith":
            return a.endswith(b)
        return b in a  # contains


def _compare(op, left, right, ci):
    if isinstance(right, _DateTime) or isinstance(left, _DateTime):
        if isinstance(left, _DateTime):
            left, right = right, left
            op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        lkey = datetime_key(left) if left is not None else None
        rkey = right.key
        if lkey is None:
            return op == "ne"
        left, right = lkey, rkey
    if op == "eq":
        if ci and isinstance(left, str) and isinstance(right, str):
            return left.lower() == right.lower()
        if isinstance(left, list):
            return right in left
        return left == right
    if op == "ne":
        if ci and isinstance(left, str) and isinstance(right, str):
            return left.lower() != right.lower()
        return left != right
    if left is None or right is None:
        return False
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if type(left) is not type(right) and not (
        isinstance(left, (int, float)) and isinstance(right, (int, float))
    ):
        return False
    if ci and isinstance(left, str):
        left, right = left.lower(), right.lower()
    if op == "gt":
        return left > right
    if op == "ge":
        return left >= right
    if op == "lt":
        return left < right
    return left <= right


class _Cmp:
    def __init__(self, op, left, right):
        self.op, self.left, self.right = op, left, right
        self.ci = getattr(left, "ci", False) or getattr(right, "ci", False)

    def eval(self, item, env):
        return _compare(self.op, self.left.eval(item, env), self.right.eval(item, env), self.ci)


class _In:
    def __init__(self, left, options):
        self.left, self.options = left, options
        self.ci = getattr(left, "ci", False)

    def eval(self, item, env):
        v = self.left.eval(item, env)
        return any(_compare("eq", v, o.eval(item, env), self.ci) for o in self.options)


class _Bool:
    def __init__(self, op, parts):
        self.op, self.parts = op, parts

    def eval(self, item, env):
        if self.op == "and":
            return all(_truth(p.eval(item, env)) for p in self.parts)
        return any(_truth(p.eval(item, env)) for p in self.parts)


class _Not:
    def __init__(self, inner):
        self.inner = inner

    def eval(self, item, env):
        return not _truth(self.inner.eval(item, env))


class _Any:
    def __init__(self, prop, var, body):
        self.prop, self.var, self.body = prop, var, body

    def eval(self, item, env):
        values = self.prop.eval(item, env) or []
        if self.body is None:
            return bool(values)
        for v in values:
            inner = dict(env)
            inner[self.var] = v
            if _truth(self.body.eval(item, inner)):
                return True
        return False


def _truth(value):
    return value is True


# --- parser ------------------------------------------------------------------------


class _Parser:
    def __init__(self, text, fields, aliases, functions=None, allow_in=True, allow_lambda=True):
        self.functions = None if functions is None else frozenset(f.lower() for f in functions)
        self.allow_in = allow_in
        self.allow_lambda = allow_lambda
        self.text = text
        self.toks = _tokenize(text)
        self.pos = 0
        self.fields = None
        if fields is not None:
            self.fields = {f.lower(): f for f in fields}
            for alias, target in (aliases or {}).items():
                self.fields[alias.lower()] = target
        self.vars = set()

    def peek(self, offset=0):
        return self.toks[min(self.pos + offset, len(self.toks) - 1)]

    def next(self):
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def expect(self, kind, value=None):
        tok = self.next()
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            raise ODataError(f"Syntax error: expected '{want}' at position {tok[2]} in '{self.text}'")
        return tok

    def is_kw(self, word, offset=0):
        tok = self.peek(offset)
        return tok[0] == "ident" and tok[1].lower() == word

    def parse(self):
        if self.peek()[0] == "end":
            raise ODataError("The $filter expression is empty")
        node = self.parse_or()
        tok = self.peek()
        if tok[0] != "end":
            raise ODataError(f"Syntax error at position {tok[2]} in '{self.text}'")
        return node

    def parse_or(self):
        parts = [self.parse_and()]
        while self.is_kw("or"):
            self.next()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else _Bool("or", parts)

    def parse_and(self):
        parts = [self.parse_unary()]
        while self.is_kw("and"):
            self.next()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else _Bool("and", parts)

    def parse_unary(self):
        if self.is_kw("not"):
            self.next()
            return _Not(self.parse_unary())
        return self.parse_comparison()

    def parse_comparison(self):
        left = self.parse_primary()
        tok = self.peek()
        if tok[0] == "ident" and tok[1].lower() in _COMPARE:
            self.next()
            right = self.parse_primary()
            return _Cmp(tok[1].lower(), left, right)
        if tok[0] == "ident" and tok[1].lower() == "in":
            if not self.allow_in:
                raise ODataError(f"The operator 'in' at position {tok[2]} is not supported for this entity")
            self.next()
            self.expect("punct", "(")
            options = [self.parse_primary()]
            while self.peek()[1] == ",":
                self.next()
                options.append(self.parse_primary())
            self.expect("punct", ")")
            return _In(left, options)
        return left

    def parse_primary(self):
        tok = self.next()
        kind, value, where = tok
        if kind == "punct" and value == "(":
            node = self.parse_or()
            self.expect("punct", ")")
            return node
        if kind == "str":
            return _Lit(value)
        if kind == "num":
            return _Lit(value)
        if kind == "datetime":
            return _Lit(value)
        if kind == "ident":
            low = value.lower()
            if low in ("true", "false"):
                return _Lit(low == "true")
            if low == "null":
                return _Lit(None)
            if self.peek()[1] == "(" and self.peek()[0] == "punct":
                return self.parse_function(low, where)
            if value in self.vars:
                node = _Var(value)
                if self.peek()[1] == "/":
                    raise ODataError(f"Navigation on '{value}' is not supported")
                return node
            prop = self.resolve(value, where)
            if self.peek()[0] == "punct" and self.peek()[1] == "/":
                self.next()
                fn = self.expect("ident")[1].lower()
                if fn not in ("any", "all") or not self.allow_lambda:
                    raise ODataError(f"Unsupported navigation '/{fn}' at position {where}")
                return self.parse_lambda(prop, fn)
            return prop
        raise ODataError(f"Syntax error at position {where} in '{self.text}'")

    def parse_function(self, name, where):
        arity = {"startswith": 2, "endswith": 2, "contains": 2, "tolower": 1, "toupper": 1, "trim": 1}
        if name not in arity or (self.functions is not None and name not in self.functions):
            raise ODataError(f"Unknown function '{name}' at position {where}")
        self.expect("punct", "(")
        args = [self.parse_or()]
        while self.peek()[1] == ",":
            self.next()
            args.append(self.parse_or())
        self.expect("punct", ")")
        if len(args) != arity[name]:
            raise ODataError(f"Function '{name}' takes {arity[name]} argument(s), got {len(args)}")
        return _Func(name, args)

    def parse_lambda(self, prop, fn):
        self.expect("punct", "(")
        if self.peek()[1] == ")":
            self.next()
            return _Any(prop, None, None)
        var = self.expect("ident")[1]
        self.expect("punct", ":")
        self.vars.add(var)
        body = self.parse_or()
        self.vars.discard(var)
        self.expect("punct", ")")
        node = _Any(prop, var, body)
        if fn == "all":
            return _Not(_Any(prop, var, _Not(body)))
        return node

    def resolve(self, name, where):
        if self.fields is None:
            return _Prop(name)
        canonical = self.fields.get(name.lower())
        if canonical is None:
            raise ODataError(
                f"Could not find a property named '{name}' on type 'microsoft.windowsDefenderATP.api.PublicEntity'."
            )
        return _Prop(canonical)


def parse_filter(text, fields=None, aliases=None, functions=None, allow_in=True, allow_lambda=True):
    """Compile ``text`` into ``predicate(item: dict) -> bool``.

    ``fields``: allowed property names (matched case-insensitively, mapped to
    their canonical spelling); ``None`` allows any. ``aliases``: extra
    ``{name: canonical}`` spellings. ``functions``: the functions allowed
    (``None``: all); ``allow_in``/``allow_lambda``: whether ``in (...)`` and
    ``any()/all()`` are accepted. Raises ``ODataError`` on bad input.
    """
    if not isinstance(text, str):
        raise ODataError("The $filter expression must be a string")
    node = _Parser(text, fields, aliases, functions, allow_in, allow_lambda).parse()

    def predicate(item):
        return _truth(node.eval(item, {}))

    predicate.ast = node
    return predicate
