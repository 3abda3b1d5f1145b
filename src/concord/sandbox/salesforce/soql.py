"""A SOQL parser for the subset incremental sync and lookups need.

    SELECT f1, Parent.f2 | COUNT() FROM Obj
      [WHERE cond]  cond := term (AND term)* | term (OR term)*;  term := NOT term | (cond) | comparison
      [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]

Comparisons: = != <> < <= > >= LIKE, IN (...), NOT IN (...). Literals are typed as in SOQL: strings quoted,
datetimes (2024-01-01T00:00:00Z) and dates (2024-01-01) bare, true/false/null. Mixing AND and OR without
parentheses is an error, as it is in Salesforce. Errors carry Salesforce's row/column excerpt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from concord.sandbox.salesforce.errors import ApiError, FieldError
from concord.sandbox.salesforce.schema import ObjectDef, Value, object_def
from concord.sandbox.salesforce.soql_bind import Path, bind_literal, resolve_path

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<string>'(?:\\.|[^'\\])*')"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<number>[+-]?\d+(?:\.\d+)?)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<op>!=|<>|<=|>=|=|<|>)"
    r"|(?P<punct>[(),])"
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    def keyword(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


@dataclass(frozen=True)
class Comparison:
    path: Path
    op: str
    value: Value | tuple[Value, ...]


@dataclass(frozen=True)
class Logical:
    op: str
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    part: Condition


Condition = Comparison | Logical | Negation


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    obj: ObjectDef
    paths: tuple[Path, ...]
    count: bool
    where: Condition | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int


def soql_error(code: str, soql: str, pos: int, message: str) -> ApiError:
    """Salesforce's error text: the query line, a caret under the offending token, row and column."""
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    row = soql.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    text = f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{message}"
    return ApiError.of(400, FieldError(code, text))


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN.match(soql, pos)
        if match is None:
            raise soql_error("MALFORMED_QUERY", soql, pos, f"unexpected token: '{soql[pos]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(soql)))
    return tokens


def unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = tokenize(soql)
        self.at = 0
        self.obj: ObjectDef | None = None

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def advance(self) -> Token:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: Token | None = None, code: str = "MALFORMED_QUERY", message: str | None = None) -> ApiError:
        token = token or self.token
        return soql_error(code, self.soql, token.pos, message or f"unexpected token: '{token.text}'")

    def expect_keyword(self, *words: str) -> Token:
        if not self.token.keyword(*words):
            raise self.fail()
        return self.advance()

    def expect(self, kind: str, text: str | None = None) -> Token:
        if self.token.kind != kind or (text is not None and self.token.text != text):
            raise self.fail()
        return self.advance()

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        count = self._count()
        names = [] if count else self._select_names()
        self.expect_keyword("FROM")
        self.obj = self._object()
        paths = tuple(self._resolve(token) for token in names)
        where = self._where()
        order = self._order_by()
        limit = self._number_clause("LIMIT")
        offset = self._number_clause("OFFSET") or 0
        if self.token.kind != "eof":
            raise self.fail()
        if offset > 2000:
            raise ApiError.of(400, FieldError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"))
        return Query(self.obj, paths, count, where, order, limit, offset)

    def _count(self) -> bool:
        if self.token.keyword("COUNT") and self.tokens[self.at + 1].text == "(":
            self.advance()
            self.expect("punct", "(")
            self.expect("punct", ")")
            return True
        return False

    def _object(self) -> ObjectDef:
        token = self.expect("ident")
        obj = object_def(token.text)
        if obj is None:
            raise self.fail(token, "INVALID_TYPE", f"sObject type '{token.text}' is not supported. If you are "
                            "attempting to use a custom object, be sure to append the '__c' after the entity "
                            "name. Please reference your WSDL or the describe call for the appropriate names.")
        return obj

    def _select_names(self) -> list[Token]:
        """The field list's tokens; they are resolved once FROM names the object."""
        names = [self.expect("ident")]
        while self.token.text == ",":
            self.advance()
            names.append(self.expect("ident"))
        return names

    def _path(self) -> Path:
        return self._resolve(self.expect("ident"))

    def _resolve(self, token: Token) -> Path:
        assert self.obj is not None
        path, problem = resolve_path(self.obj, token.text)
        if path is None:
            raise self.fail(token, "INVALID_FIELD", problem)
        return path

    def _where(self) -> Condition | None:
        if not self.token.keyword("WHERE"):
            return None
        self.advance()
        return self._condition()

    def _condition(self) -> Condition:
        parts = [self._term()]
        joiner: str | None = None
        while self.token.keyword("AND", "OR"):
            word = self.token.text.upper()
            if joiner is not None and word != joiner:
                raise self.fail()
            joiner = word
            self.advance()
            parts.append(self._term())
        return parts[0] if joiner is None else Logical(joiner, tuple(parts))

    def _term(self) -> Condition:
        if self.token.keyword("NOT"):
            self.advance()
            return Negation(self._term())
        if self.token.text == "(":
            self.advance()
            inner = self._condition()
            self.expect("punct", ")")
            return inner
        return self._comparison()

    def _comparison(self) -> Comparison:
        path = self._path()
        if self.token.keyword("IN") or self.token.keyword("NOT"):
            negated = self.advance().text.upper() == "NOT"
            if negated:
                self.expect_keyword("IN")
            return Comparison(path, "NOT IN" if negated else "IN", self._literal_list(path))
        if self.token.keyword("LIKE"):
            self.advance()
            return Comparison(path, "LIKE", self._literal(path))
        op = self.expect("op").text
        return Comparison(path, "!=" if op == "<>" else op, self._literal(path))

    def _literal_list(self, path: Path) -> tuple[Value, ...]:
        self.expect("punct", "(")
        values = [self._literal(path)]
        while self.token.text == ",":
            self.advance()
            values.append(self._literal(path))
        self.expect("punct", ")")
        return tuple(values)

    def _literal(self, path: Path) -> Value:
        token = self.advance()
        if token.kind not in ("string", "datetime", "date", "number", "ident"):
            raise self.fail(token)
        text = unquote(token.text) if token.kind == "string" else token.text
        value, problem = bind_literal(path.field, token.kind, text)
        if problem is not None:
            raise self.fail(token, problem[0], problem[1])
        return value

    def _order_by(self) -> tuple[OrderItem, ...]:
        if not self.token.keyword("ORDER"):
            return ()
        self.advance()
        self.expect_keyword("BY")
        items = [self._order_item()]
        while self.token.text == ",":
            self.advance()
            items.append(self._order_item())
        return tuple(items)

    def _order_item(self) -> OrderItem:
        path = self._path()
        descending = False
        if self.token.keyword("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_last = descending
        if self.token.keyword("NULLS"):
            self.advance()
            nulls_last = self.expect_keyword("FIRST", "LAST").text.upper() == "LAST"
        return OrderItem(path, descending, nulls_last)

    def _number_clause(self, word: str) -> int | None:
        if not self.token.keyword(word):
            return None
        self.advance()
        token = self.expect("number")
        if not token.text.isdigit():
            raise self.fail(token)
        return int(token.text)


def parse(soql: str) -> Query:
    """Parse and bind `soql` against the twin's schema, raising Salesforce's 400 errors."""
    return _Parser(soql).parse()

