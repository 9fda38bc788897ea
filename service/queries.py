"""Load the named SQL queries of `sql/*.sql` once, in the parameter style of the connected driver.

A file holds blocks of this form, separated by blank lines:

    -- name: get_session_by_id
    -- Return the session with this id, or no row.
    SELECT ... WHERE id = :session_id

A block may add `-- dialect: mysql` (or `sqlite`) under its name line: it is that backend's
variant of the query of the same name, and the portable block without a dialect serves the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DIALECTS = ("mysql", "sqlite")

_NAME_LINE = re.compile(r"^--\s*name:\s*(\S+)\s*$")
_DIALECT_LINE = re.compile(r"^--\s*dialect:\s*(\S+)\s*$")
_VALID_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# A :name parameter outside string literals; '::' and 'a:b' inside words are not parameters.
_TOKEN = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


class QueryFileError(Exception):
    """An SQL file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Query:
    """One named statement, compiled for one driver's parameter style."""

    name: str
    doc: str
    sql: str
    parameters: tuple[str, ...] = field(default=())
    dialect: str | None = None

    def bind(self, params: dict[str, object]) -> tuple[str, dict[str, object]]:
        """Return the statement and its arguments, expanding list parameters into one each."""
        missing = [name for name in self.parameters if name not in params]
        if missing:
            raise TypeError(f"query {self.name} is missing parameters: {', '.join(missing)}")

        sql = self.sql
        arguments: dict[str, object] = {}
        for name in self.parameters:
            value = params[name]
            if isinstance(value, list | tuple):
                if not value:
                    raise ValueError(f"query {self.name} got an empty list for {name}")
                names = [f"{name}__{index}" for index in range(len(value))]
                expanded = ", ".join(_placeholder(item, self.dialect) for item in names)

                # A function as the replacement, so re.sub takes the text as it is.
                def replacement(_: re.Match[str], text: str = expanded) -> str:
                    return text

                sql = re.sub(
                    re.escape(_placeholder(name, self.dialect)) + r"(?!\w)", replacement, sql
                )
                arguments.update(zip(names, value, strict=True))
            else:
                arguments[name] = value
        return sql, arguments


def _placeholder(name: str, dialect: str | None) -> str:
    return f"%({name})s" if dialect == "mysql" else f":{name}"


@dataclass
class _Block:
    name: str
    path: Path
    line: int
    dialect: str | None = None
    doc: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)


def parse_sql_file(path: Path) -> list[_Block]:
    """Split one SQL file into its named blocks, checking their form."""
    blocks: list[_Block] = []
    current: _Block | None = None

    for number, raw_line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw_line.rstrip()
        name_match = _NAME_LINE.match(line)
        if name_match:
            name = name_match.group(1)
            if not _VALID_NAME.match(name):
                raise QueryFileError(
                    f"{path}:{number}: query name {name!r} must be lower_snake_case"
                )
            current = _Block(name=name, path=path, line=number)
            blocks.append(current)
            continue
        if current is None:
            if line and not line.startswith("--"):
                raise QueryFileError(f"{path}:{number}: SQL before the first '-- name:' line")
            continue
        dialect_match = _DIALECT_LINE.match(line)
        if dialect_match and not current.sql:
            if dialect_match.group(1) not in DIALECTS:
                raise QueryFileError(
                    f"{path}:{number}: unknown dialect {dialect_match.group(1)!r}, "
                    f"expected one of {', '.join(DIALECTS)}"
                )
            current.dialect = dialect_match.group(1)
        elif line.startswith("--") and not current.sql:
            current.doc.append(line.lstrip("-").strip())
        elif line and not line.lstrip().startswith("--"):
            current.sql.append(line)

    for block in blocks:
        if not block.sql:
            raise QueryFileError(f"{block.path}:{block.line}: query {block.name} has no SQL")
        if not block.doc:
            raise QueryFileError(
                f"{block.path}:{block.line}: query {block.name} needs a '--' line "
                "saying what it returns"
            )
    return blocks


def _compile(block: _Block, dialect: str) -> Query:
    text = "\n".join(block.sql).strip().rstrip(";")
    parameters: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            literal = match.group(0)
            return literal.replace("%", "%%") if dialect == "mysql" else literal
        if name not in parameters:
            parameters.append(name)
        return _placeholder(name, dialect)

    if dialect == "mysql":
        # pyformat needs every '%' doubled: here outside literals, by `replace` inside them.
        pieces = re.split(r"('(?:[^']|'')*')", text)
        text = "".join(
            piece if piece.startswith("'") else piece.replace("%", "%%") for piece in pieces
        )
    sql = _TOKEN.sub(replace, text)
    return Query(
        name=block.name,
        doc=" ".join(block.doc),
        sql=sql,
        parameters=tuple(parameters),
        dialect=dialect,
    )


class Queries:
    """The registry of named queries for one backend, looked up by name."""

    def __init__(self, queries: dict[str, Query], dialect: str) -> None:
        self._queries = queries
        self.dialect = dialect

    @classmethod
    def load(cls, directory: Path, dialect: str) -> Queries:
        """Read every `*.sql` file in `directory` and keep the variant for `dialect`."""
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}")

        chosen: dict[str, _Block] = {}
        seen: dict[tuple[str, str | None], _Block] = {}
        for path in sorted(directory.glob("*.sql")):
            for block in parse_sql_file(path):
                key = (block.name, block.dialect)
                if key in seen:
                    first = seen[key]
                    raise QueryFileError(
                        f"{block.path}:{block.line}: query {block.name} is already defined "
                        f"at {first.path}:{first.line}"
                    )
                seen[key] = block
                if block.dialect == dialect or (block.dialect is None and block.name not in chosen):
                    chosen[block.name] = block

        for name, dialect_name in seen:
            if dialect_name is not None and (name, None) not in seen:
                other = [d for d in DIALECTS if (name, d) not in seen]
                if other:
                    block = seen[(name, dialect_name)]
                    raise QueryFileError(
                        f"{block.path}:{block.line}: query {name} has a {dialect_name} variant "
                        f"but no portable version for {', '.join(other)}"
                    )

        return cls({name: _compile(block, dialect) for name, block in chosen.items()}, dialect)

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no query named {name!r} in sql/") from None

    def __contains__(self, name: str) -> bool:
        return name in self._queries

    def names(self) -> list[str]:
        return sorted(self._queries)
