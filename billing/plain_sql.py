"""Plain SQL for the hottest reads and locks (the lookup page, the posting path): compiling their ORM
queries cost more than running them (docs/benchmarks.md). PostgreSQL gives money back as Decimal and
dates as dates, so a row becomes a model instance as it is."""

from contextlib import contextmanager

from django.db import connection


def columns(model, alias: str) -> str:
    """The model's concrete columns, qualified by `alias`, in the order `attnames` lists them."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


_ATTNAMES: dict[type, list[str]] = {}


def _attnames_without_converters(model) -> list[str]:
    """The model's attnames, once it is known that PostgreSQL hands every column back as the field holds
    it (decimals as Decimal, dates as dates): true of the models read here. A model with a field the ORM
    converts on the way out (a JSONField) is refused rather than given back half-built."""
    if model not in _ATTNAMES:
        converted = [
            field.name
            for field in model._meta.concrete_fields
            if connection.ops.get_db_converters(field.get_col(model._meta.db_table))
            or field.get_db_converters(connection)
        ]
        if converted:
            raise TypeError(
                f"{model.__name__}.{converted[0]} needs the ORM's converters: read it through the ORM"
            )
        _ATTNAMES[model] = attnames(model)
    return _ATTNAMES[model]


def model_from_row(model, row, start: int = 0):
    """The instance whose `columns` begin at `start` in `row`, and where the next model's begin."""
    names = _attnames_without_converters(model)
    end = start + len(names)
    return model.from_db(connection.alias, names, row[start:end]), end


@contextmanager
def prepared_cursor():
    """A cursor whose statements PostgreSQL prepares once per connection (config.postgresql)."""
    with connection.prepared_cursor() as cursor:
        yield cursor
