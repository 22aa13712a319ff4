from __future__ import annotations

import copy
import pickle

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from escalade.domain.expressions import (
    SIGNAL_VARIABLES,
    Expression,
    ExpressionError,
    SignalExpressionField,
    compile_expression,
)

SIGNAL = {
    "kind": "harm_report",
    "value": 0.42,
    "labels": {"harm": "death", "env": "production"},
    "subject": {"model": "credit-v7"},
    "tags": ["a", "b"],
}


def test_a_condition_evaluates_to_a_bool() -> None:
    expression = compile_expression('signal.labels.harm in ["death", "injury"]', SIGNAL_VARIABLES)
    assert expression.evaluate_bool({"signal": SIGNAL}) is True
    assert compile_expression("signal.value > 0.10", SIGNAL_VARIABLES).evaluate_bool(
        {"signal": SIGNAL}
    )


def test_evaluate_returns_any_cel_value() -> None:
    expression = compile_expression("signal.value * 2.0", SIGNAL_VARIABLES)
    assert expression.evaluate({"signal": SIGNAL}) == pytest.approx(0.84)


def test_a_missing_field_is_an_expression_error_not_a_key_error() -> None:
    expression = compile_expression("signal.labels.segment == 'x'", SIGNAL_VARIABLES)
    with pytest.raises(ExpressionError, match="reads a field that is not there: 'segment'"):
        expression.evaluate({"signal": SIGNAL})


@pytest.mark.parametrize(
    ("source", "variables"),
    [
        ("signal.kind > 1", {"signal": SIGNAL}),  # type mismatch
        ("signal.labels.size() / 0 == 1", {"signal": SIGNAL}),  # division by zero
        ("signal.tags[5] == 'c'", {"signal": SIGNAL}),  # index out of range
        ("signal.kind == 'x'", {}),  # variable not supplied
        ("signal.kind == 'x'", {"signal": object()}),  # not convertible to CEL
    ],
)
def test_every_evaluation_failure_is_an_expression_error(
    source: str, variables: dict[str, object]
) -> None:
    with pytest.raises(ExpressionError, match=r"failed|not there"):
        compile_expression(source, SIGNAL_VARIABLES).evaluate(variables)


def test_a_condition_must_give_a_bool() -> None:
    expression = compile_expression("signal.value", SIGNAL_VARIABLES)
    with pytest.raises(ExpressionError, match=r"must give true or false, gave 0\.42"):
        expression.evaluate_bool({"signal": SIGNAL})


def test_a_syntax_error_names_its_column() -> None:
    with pytest.raises(ExpressionError, match="invalid expression at column 15"):
        compile_expression("signal.value >", SIGNAL_VARIABLES)
    with pytest.raises(ExpressionError, match="column 1"):
        compile_expression("'unterminated", SIGNAL_VARIABLES)


def test_unknown_variables_are_refused_with_the_closest_name() -> None:
    with pytest.raises(ExpressionError, match=r"unknown variable 'sigal'.*did you mean 'signal'"):
        compile_expression("sigal.value > 1.0", SIGNAL_VARIABLES)
    with pytest.raises(ExpressionError, match="available here: signal"):
        compile_expression("request.risk > 0.5", SIGNAL_VARIABLES)


def test_macro_loop_variables_are_not_taken_for_free_variables() -> None:
    expression = compile_expression(
        "signal.tags.exists(t, t == 'a') && signal.tags.all(x, x.size() == 1)"
        " && signal.tags.map(m, m + '!').filter(f, f == 'b!').size() == 1",
        SIGNAL_VARIABLES,
    )
    assert expression.evaluate_bool({"signal": SIGNAL}) is True


def test_expressions_are_values_keyed_by_source() -> None:
    one = compile_expression("signal.value > 1.0", SIGNAL_VARIABLES)
    two = Expression("signal.value > 1.0")
    assert one == two
    assert hash(one) == hash(two)
    assert str(one) == "signal.value > 1.0"
    assert copy.deepcopy(one) is one
    assert pickle.loads(pickle.dumps(one)).evaluate_bool({"signal": {"value": 2.0}})


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True)
    condition: SignalExpressionField


def test_the_pydantic_field_compiles_at_validation_and_dumps_the_source() -> None:
    rule = _Rule(condition="signal.value > 0.5")  # type: ignore[arg-type]
    assert rule.condition.evaluate_bool({"signal": {"value": 0.7}})
    assert rule.model_dump_json() == '{"condition":"signal.value > 0.5"}'
    assert hash(rule) == hash(_Rule(condition=Expression("signal.value > 0.5")))
    with pytest.raises(ValidationError, match="unknown variable 'request'"):
        _Rule(condition=Expression("request.risk > 0.5"))
    with pytest.raises(ValidationError, match="expected a CEL expression"):
        _Rule(condition=5)  # type: ignore[arg-type]
