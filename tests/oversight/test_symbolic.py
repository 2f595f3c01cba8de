"""The symbolic checker (oversight/symbolic): pure, no database.

Cases are inline (users' clones have no ProcessBench copy); many of the negatives are shapes seen in
ProcessBench's GSM8K and MATH chains.
"""

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oversight.symbolic import ABSTAIN, MISMATCH, OUTCOMES, VERIFIED, check_step, check_steps, step_outcome
from oversight.symbolic.planting import (
    algebra_candidates,
    arithmetic_candidates,
    plant_algebra,
    plant_arithmetic,
)


def only(text: str):
    """The single finding of a step (fails when there is not exactly one)."""
    findings = check_step(text)
    assert len(findings) == 1, [(f.expression, f.outcome, f.rule) for f in findings]
    return findings[0]


def outcomes(text: str) -> list[tuple[str, str]]:
    return [(f.expression, f.outcome) for f in check_step(text)]


# -- the examples ----------------------------------------------------------------------------


def test_latex_product_mismatch_reports_both_values():
    text = r"So the boxes hold \(17 \times 4 = 58\) apples."
    f = only(text)
    assert f.outcome == MISMATCH
    assert (f.lhs_value, f.rhs_value) == ("68", "58")
    assert f.expression == r"17 \times 4 = 58"
    assert text[f.start : f.end] == f.expression
    assert f.detail == "17 × 4 = 68, not 58."


def test_equation_in_one_unknown_abstains_and_says_where_it_holds():
    f = only(r"\(5x = 2(3x-7)\)")
    assert f.outcome == ABSTAIN
    assert f.rule == "equation"
    assert "x = 14" in f.detail


def test_value_given_to_an_unknown_abstains_with_the_evaluated_value():
    # Rule: `x = <number>` assigns; the checker evaluates the number (7) but does not check x.
    f = only(r"\(x = \frac{14}{2}\)")
    assert (f.outcome, f.rule) == (ABSTAIN, "assignment")
    assert f.rhs_value == "7"


def test_prose_sum_with_a_unit_after_the_result_is_verified():
    f = only("12 + 18 = 30 dollars")
    assert f.outcome == VERIFIED
    assert f.expression == "12 + 18 = 30"


def test_step_outcome_is_never_correct():
    assert step_outcome(check_step("3 + 4 = 7 and 2 × 5 = 10")) == ABSTAIN
    assert step_outcome(check_step("3 + 4 = 7 and 2 × 5 = 11")) == MISMATCH
    assert step_outcome([]) == ABSTAIN


def test_check_steps_is_check_step_per_text():
    texts = ["1 + 1 = 2", "no equality here", r"\(2^{10} = 1000\)"]
    assert check_steps(texts) == [check_step(t) for t in texts]


# -- what is read ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expression",
    [
        ("3 + 4 = 7", "3 + 4 = 7"),
        ("2*3=6", "2*3=6"),
        (r"$12 \times 3 = 36$", r"12 \times 3 = 36"),
        (r"$$12 \cdot 3 = 36$$", r"12 \cdot 3 = 36"),
        (r"\[ 10 \div 4 = 2.5 \]", r"10 \div 4 = 2.5"),
        ("It costs 1,200 + 300 = 1,500 dollars.", "1,200 + 300 = 1,500"),
        (r"\( 1{,}200 + 300 = 1{,}500 \)", r"1{,}200 + 300 = 1{,}500"),
        ("$300 + $6 - $275 = $31.", "$300 + $6 - $275 = $31"),
        ("$10+$20=$30", "$10+$20=$30"),
        (r"\(\$10 + \$24 = \$34\)", r"\$10 + \$24 = \$34"),
        ("20% of 50 = 10", "20% of 50 = 10"),
        (r"\(25\% \times 80 = 20\)", r"25\% \times 80 = 20"),
        (r"\(\frac{3}{4} \times 100 = 75\%\)", r"\frac{3}{4} \times 100 = 75\%"),
        ("1/3 of 18 = 6", "1/3 of 18 = 6"),
        (r"\(\sqrt{16} = 4\)", r"\sqrt{16} = 4"),
        (r"\(\sqrt[3]{27} = 3\)", r"\sqrt[3]{27} = 3"),
        (r"\(\left(\frac{1}{2}\right)^2 = \frac{1}{4}\)", r"\left(\frac{1}{2}\right)^2 = \frac{1}{4}"),
        (r"\(2^{10} = 1024\)", r"2^{10} = 1024"),
        ("2^10 = 1024", "2^10 = 1024"),
        (r"\(5! = 120\)", r"5! = 120"),
        ("5! = 120", "5! = 120"),
        (r"\(\binom{5}{2} = 10\)", r"\binom{5}{2} = 10"),
        (r"\(|-3| + 2 = 5\)", r"|-3| + 2 = 5"),
        ("42 bales x 75 pounds per bale = 3150 pounds.", "42 bales x 75 pounds per bale = 3150"),
        ("3x4=12", "3x4=12"),
        ("8 (this week) - 4 (last week) = 4.", "8 (this week) - 4 (last week) = 4"),
        ("3 times 4 = 12", "3 times 4 = 12"),
        ("10 divided by 4 = 2.5", "10 divided by 4 = 2.5"),
        ("5 + 3 equals 8", "5 + 3 equals 8"),
        ("2 thousand + 500 = 2500", "2 thousand + 500 = 2500"),
        ("1.5e3 + 500 = 2000", "1.5e3 + 500 = 2000"),
        (r"\[ 18 \, \text{mph} \times 5 \, \text{hours} = 90 \, \text{miles} \]", r"18 \, \text{mph} \times 5 \, \text{hours} = 90"),
        (r"\(\sqrt{2} \times \sqrt{8} = 4\)", r"\sqrt{2} \times \sqrt{8} = 4"),
        (r"$\sqrt{50} = 5\sqrt{2}$", r"\sqrt{50} = 5\sqrt{2}"),
        (r"\(\pi (6)^2 = 36\pi\)", r"\pi (6)^2 = 36\pi"),
        ("√16 = 4", "√16 = 4"),
        ("3² + 4² = 25", "3² + 4² = 25"),
        (r"\boxed{3 + 4 = 7}", "3 + 4 = 7"),
        ("1. 3 + 4 = 7", "3 + 4 = 7"),
        ("**Total:** 3 + 4 = 7", "3 + 4 = 7"),
        ("−5 + 3 = −2", "−5 + 3 = −2"),
    ],
)
def test_reads_and_verifies(text, expression):
    f = only(text)
    assert f.outcome == VERIFIED, f.detail
    assert f.expression == expression
    assert text[f.start : f.end] == expression


def test_chained_equalities_are_checked_pair_by_pair():
    text = r"\(2 \times 3 + 4 = 6 + 4 = 11\)"
    assert outcomes(text) == [(r"2 \times 3 + 4 = 6 + 4", VERIFIED), ("6 + 4 = 11", MISMATCH)]


def test_a_display_that_starts_with_equals_continues_the_previous_one():
    text = r"\[ (2 + 3) \times 4 \] \[ = 5 \times 4 \] \[ = 21 \]"
    assert [f.outcome for f in check_step(text)] == [VERIFIED, MISMATCH]
    assert check_step(text)[1].lhs_value == "20"


def test_align_lines_that_start_with_ampersand_equals_continue():
    text = r"\begin{align*} a &= 2 + 3 \\ &= 6 \end{align*}"
    findings = check_step(text)
    assert [(f.outcome, f.rule) for f in findings] == [(ABSTAIN, "assignment"), (MISMATCH, "exact")]


def test_text_labels_before_a_chain_are_skipped():
    text = r"\[ \text{Total Cost} = \$10 + \$24 + \$12 + \$14 = \$50 \]"
    f = only(text)
    assert (f.outcome, f.lhs_value, f.rhs_value) == (MISMATCH, "60", "50")


@pytest.mark.parametrize(
    "text, lhs, rhs",
    [
        ("12 + 18 = 31 dollars", "30", "31"),
        ("42 bales x 75 pounds per bale = 3250 pounds.", "3150", "3250"),
        ("20% of 50 = 12", "10", "12"),
        (r"\(\frac{3}{4} \times 100 = 70\%\)", "75", "70%"),
        (r"\(2^{10} = 1000\)", "1024", "1000"),
        (r"\(\sqrt{16} = 5\)", "4", "5"),
        ("$1.25 × 4 = $5.01", "5", "5.01"),
        ("1/3 = 0.35", "1/3", "0.35"),
        ("3 times 4 = 13", "12", "13"),
        ("5 + 3 equals 9", "8", "9"),
        ("Let n = 5 + 3 = 9.", "8", "9"),
        ("18-6=11", "12", "11"),
        (r"\(\frac{40}{5} = 3\) dollars", "8", "3"),
        (r"\(\sqrt{2} \approx 2\)", "≈ 1.414213562", "2"),
        ("This means he needs a total of $100 + $50 = $160.", "150", "160"),
        ("so he can eat 2 x 75 = 510 medium-sized beans.", "150", "510"),
        ("- On Monday: 5 pairs = 5 * 2 = 11 shoes - On Wednesday: 15 pairs", "10", "11"),
        (r"\[192 + 16 + 4 = 202_{10}\]", "212", "202"),
        ("we can form two pairs: 3 * 17 = 61 and 7 * 13 = 91.", "51", "61"),
        ("his total number of candies is now -50 + 100 = 10 candies.", "50", "10"),
        ("This gives us 25 multiples of 4 (4 × 25 = 130).", "100", "130"),
        ("to a height of 4/2 = 12 feet", "2", "12"),
    ],
)
def test_slips_are_mismatches(text, lhs, rhs):
    findings = [f for f in check_step(text) if f.outcome == MISMATCH]
    assert len(findings) == 1, outcomes(text)
    assert (findings[0].lhs_value, findings[0].rhs_value) == (lhs, rhs)


# -- rounding and percentages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["1/3 = 0.33", "1/3 ≈ 0.33", r"\(\frac{1}{3} \approx 0.333\)", "2/3 = 0.67", "2/3 = 0.66", "150/7 = 21.43",
     "100/7 = 14.29", r"\(\sqrt{2} \approx 1.414\)", r"\(\pi \approx 3.14\)", "(2/3) * 100 = 66.67%",
     "1000/7 ≈ 143", "1234 ≈ 1200"],
)
def test_rounded_results_are_verified(text):
    f = only(text)
    assert f.outcome == VERIFIED, f.detail


@pytest.mark.parametrize(
    "text, rule",
    [
        ("150/7 = 21 buses", "rounded-integer"),
        ("150/7 = 22 buses", "rounded-integer"),
        ("1/3 = 0.34", "last-digit"),
        ("0.33 × 3 = 1", "rounded-integer"),
        (r"\(\sqrt{2} \approx 1.5\)", "last-digit"),
        (r"\(\sqrt{2} \approx 1.3\)", "approximate"),
        ("Since 1/3 ≈ 0.33, 0.33 × 3 = 0.98", "rounded-inputs"),
    ],
)
def test_near_misses_from_rounding_abstain(text, rule):
    findings = check_step(text)
    assert MISMATCH not in [f.outcome for f in findings]
    assert findings[-1].rule == rule


def test_a_value_exact_at_the_stated_decimals_must_match_exactly():
    # 1.25 × 4 is exactly 5: "5.01" is not a rounding of it.
    assert only("1.25 × 4 = 5.01").outcome == MISMATCH


@pytest.mark.parametrize(
    "text", ["10/50 = 20%", "10/50 * 100 = 20%", "0.2 × 100 = 20%", "25% = 1/4", "100% - 20% = 80%", "30% = 0.3"]
)
def test_percentages_read_as_fraction_or_number(text):
    assert only(text).outcome == VERIFIED


# -- no false mismatch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Step 1 = 5 apples",
        "x = 5",
        "Let x = the number of apples. Then x = 12.",
        "5 feet = 60 inches",
        "1 hour = 60 minutes, so 2 hours = 120 minutes",
        "1.5 hours = 90 minutes",
        "$1.50 = 150 cents",
        "2 hours + 30 minutes = 150 minutes",
        "30 + 30 = 1 hour",
        "0.5 × 60 = 30 minutes = 0.5 hours",
        "half of 10 + 4 = 9",
        "twice 3 + 4 = 10",
        "17 mod 5 = 2",
        "17 = 2 mod 5",
        "7 = 2 (mod 5)",
        r"\(17 \equiv 2 \pmod{5}\)",
        r"\(\log_2 8 = 3\)",
        r"\(\sin 30^\circ = 0.5\)",
        r"\(f(3) = 2(3) + 1 = 7\)",
        r"\(1 + 2 + \cdots + 10 = 55\)",
        "1 + 2 + ... + 10 = 55",
        "100 + 20% = 120",
        "7/2 = 3 and 1/2",
        "7/2 = 3 1/2",
        r"\(2\frac{1}{2} = \frac{5}{2}\)",
        "Wait, 3 + 4 = 8? No, 3 + 4 = 7.",
        "If 2 + 2 = 5 were true, the statement would be false.",
        "The claim 6 × 7 = 43 is wrong; 6 × 7 = 42.",
        "3 × 4 = 12 (not 13)",
        "0.333... = 1/3",
        r"\(0.\overline{3} = \frac{1}{3}\)",
        "3,5 + 1 = 4,5",
        "12:30 + 2 = 14:30",
        "1st + 2nd = 3rd",
        "Pages 10-12 = 3 pages",
        "The years 1990-2000 = a decade",
        "On 2023-10-05 = Thursday we met.",
        "a = 1, b = 2, c = a + b = 3",
        r"\(x^2 = 4\)",
        r"\(e^{i\pi} = -1\)",
        "5 pairs = 5 * 2 = 10 shoes",
        "Total oranges in 8 boxes = 8 * 20 = 160 oranges.",
        r"\[ \text{Alyana's Age} = \text{Chenny's Age} - 4 = 10 - 4 = 6 \]",
        "Value of Juan's house = Value of Herb's house - $22,800 = $76,000 - $22,800 = $53,200.",
        "x = $450 / $1.5. x = 300.",
        r"\( \begin{pmatrix} 2 \\ 1 \end{pmatrix} \cdot \begin{pmatrix} 2 \\ 1 \end{pmatrix} = 2^2 + 1^2 = 5 \)",
        r"\( 2012_3 = 2 \cdot 3^3 + 0 \cdot 3^2 + 1 \cdot 3 + 2 = 59 \)",
        "3.5_{10} = 15_5",
        "The ratio 3:4 = 0.75",
        "It costs $5. 3 = three",
        r"\(\lfloor 7.5 \rfloor = 7\)",
        "Call 555-1234 = the office",
        "We want 3 + x = 10, so x = 7.",
        "The answer is 5 + 3 = 8!",
        r"\(\dfrac{1}{2}\left(\dfrac{1}{3}\right) = \dfrac{1}{6}\)",
        "One-third of 27 = 27 ÷ 3 = 9.",
        r"First, find the discounted rate: \(25\%\) of $80 = \frac{25}{100} \times \$80 = \$20\).",
        r"\(x\) + 3 = 5",
        "the square of 3 + 4 = 49",
        r"\(192 + 16 + 4 = 202_{8}\)",
        r"\(496 \div 8 = 60 \text{ remainder } 0\)",
        "so 66 / 12 = 5.5 dozen cookies",
        # An exponent that ends a line is no left side for the next line's "&=".
        r"\begin{align*} a &= (11^{\log_{11}5^{-1}})^2 \cdot 11^3 \\ &= (5^{-1})^2 \cdot 11^3 \end{align*}",
    ],
)
def test_tricky_texts_raise_no_mismatch(text):
    assert MISMATCH not in [f.outcome for f in check_step(text)], [(f.expression, f.detail) for f in check_step(text)]


@pytest.mark.parametrize(
    "text, rule",
    [
        ("Step 1 = 5 apples", "bare-numbers"),
        ("2 hours + 30 minutes = 150 minutes", "mixed-units"),
        ("30 + 30 = 1 hour", "unit-conversion"),
        ("half of 10 + 4 = 9", "boundary"),
        ("100 + 20% = 120", "percent-additive"),
        ("The claim 6 × 7 = 43 is wrong.", "disputed"),
        ("5 pairs = 5 * 2", "label"),
        (r"\(10^{10^{10}} = 5\)", "not-evaluable"),
        ("7 / 0 = 3", "not-evaluable"),
    ],
)
def test_abstentions_name_their_reason(text, rule):
    assert check_step(text)[0].rule == rule


# -- algebra -----------------------------------------------------------------------------------------


def test_identity_is_verified():
    f = only(r"\[ (x + 1)^2 = x^2 + 2x + 1 \]")
    assert (f.outcome, f.rule) == (VERIFIED, "identity")


def test_identity_in_two_variables_is_verified():
    assert only(r"\((a + b)^2 = a^2 + 2ab + b^2\)").outcome == VERIFIED


def test_sides_that_differ_by_a_constant_have_no_solution():
    f = only(r"\[ (x + 1)^2 = x^2 + 2x + 2 \]")
    assert (f.outcome, f.rule) == (MISMATCH, "no-solution")


def test_sides_that_differ_by_a_function_of_x_are_an_equation():
    f = only(r"\[ (x + 1)^2 = x^2 + 3x + 1 \]")
    assert (f.outcome, f.rule) == (ABSTAIN, "equation")
    assert "x = 0" in f.detail


def test_rewriting_chain_checks_each_rewrite():
    text = r"\[ 2(3x - 7) = 6x - 14 = 6x - 15 \]"
    assert [(f.outcome, f.rule) for f in check_step(text)] == [(VERIFIED, "identity"), (MISMATCH, "no-solution")]


def test_no_solution_is_not_claimed_in_prose_or_when_the_text_says_contradiction():
    assert only("x + 1 = x + 2").outcome == ABSTAIN
    assert only(r"This gives \(x + 1 = x + 2\), a contradiction.").outcome == ABSTAIN


# -- hostile and huge inputs -------------------------------------------------------------------------


def _fast(text: str, seconds: float = 3.0):
    start = time.perf_counter()
    findings = check_step(text)
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"{elapsed:.2f}s"
    for f in findings:
        assert text[f.start : f.end] == f.expression
    return findings


@pytest.mark.parametrize(
    "text",
    [
        r"\(10^{10^{10}} = 5\)",
        "9^9^9 = 3",
        r"\(9^{9^{9^{9}}} = 1\)",
        "2^100000 = 1",
        r"\(100000! = 3\)",
        r"\(\binom{1000000000}{5} = 3\)",
        r"\((1.5)^{50000} = 2\)",
        r"\(\sqrt{2}^{100000} = 2\)",
        "1" * 10_000 + " + 1 = 2",
        r"\(\frac{1}{0} = 2\)",
    ],
)
def test_huge_values_abstain_quickly(text):
    findings = _fast(text, 2.0)
    assert all(f.outcome != MISMATCH for f in findings)


def test_a_50000_character_step_returns_quickly():
    text = ("We add 1 + 1 = 2 and then 2 × 3 = 6. " * 1400)[:50_000]
    findings = _fast(text, 5.0)
    assert len(findings) <= 500
    assert findings and all(f.outcome == VERIFIED for f in findings)


@pytest.mark.parametrize(
    "text",
    [
        r"\[" + "{" * 25_000 + "1" + "}" * 25_000 + r" = 1 \]",
        "(" * 25_000 + "1" + ")" * 25_000 + " = 1",
        r"\(" + r"\frac{" * 5_000 + "1" + "}{2}" * 5_000 + r" = 1\)",
        "$1 " * 16_000 + "= 2",
        r"\[ " * 12_000 + "1 = 1",
        "1=" * 25_000,
        "= " * 25_000,
        "-" * 25_000 + "1 = 1",
        r"\sqrt" * 10_000 + "{4} = 2",
        "x^" * 10_000 + "2 = 1",
        "".join(random.Random(7).choice("0123456789+-*/^=()[]{}$\\ .,%x") for _ in range(50_000)),
    ],
    ids=["braces", "parens", "fracs", "dollars", "unclosed-displays", "equals-run", "equals-only", "minus-run",
         "sqrt-run", "power-run", "random"],
)
def test_deep_or_degenerate_inputs_return_quickly(text):
    _fast(text, 5.0)


# -- properties --------------------------------------------------------------------------------------

ints = st.integers(min_value=-(10**9), max_value=10**9)


@given(a=ints, b=ints)
@settings(deadline=None)  # the machine is shared: timings vary, results do not
def test_sum_is_verified(a, b):
    f = only(f"{a} + {b} = {a + b}")
    assert f.outcome == VERIFIED
    assert f.lhs_value == f.rhs_value == str(a + b)


@given(a=ints, b=ints, d=ints.filter(lambda d: d != 0))
@settings(deadline=None)  # the machine is shared: timings vary, results do not
def test_wrong_sum_is_a_mismatch_with_both_values(a, b, d):
    f = only(f"{a} + {b} = {a + b + d}")
    assert f.outcome == MISMATCH
    assert (f.lhs_value, f.rhs_value) == (str(a + b), str(a + b + d))


@given(a=st.integers(0, 10**6), b=st.integers(0, 10**6), d=st.integers(-50, 50))
@settings(deadline=None)  # the machine is shared: timings vary, results do not
def test_latex_product(a, b, d):
    f = only(rf"\({a} \times {b} = {a * b + d}\)")
    assert f.outcome == (VERIFIED if d == 0 else MISMATCH)


@given(p=st.integers(1, 10**6), q=st.integers(2, 997), decimals=st.integers(1, 6))
@settings(deadline=None)  # the machine is shared: timings vary, results do not
def test_a_quotient_rounded_to_its_stated_decimals_is_never_a_mismatch(p, q, decimals):
    from decimal import ROUND_HALF_UP, Decimal

    stated = (Decimal(p) / Decimal(q)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    assert only(f"{p}/{q} = {stated}").outcome == VERIFIED


@given(st.text(alphabet="0123456789+-*/^=()[]{}$\\ .,%xyabc×÷≈ntimesfracsqrt", max_size=200))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)
def test_any_text_gives_findings_that_slice_back(text):
    findings = check_step(text)
    for f in findings:
        assert text[f.start : f.end] == f.expression
        assert 0 <= f.start < f.end <= len(text)
        assert f.outcome in OUTCOMES
        assert f.detail
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    assert step_outcome(findings) in (MISMATCH, ABSTAIN)


@given(
    words=st.lists(st.sampled_from(["the", "apples", "cost", "so", "we", "get", "Then", "in", "total", "each"]), max_size=6),
    a=st.integers(0, 999),
    b=st.integers(0, 999),
)
@settings(deadline=None)  # the machine is shared: timings vary, results do not
def test_prose_around_a_true_equality_never_makes_it_a_mismatch(words, a, b):
    text = " ".join(words) + f" {a} + {b} = {a + b} " + " ".join(reversed(words)) + "."
    assert MISMATCH not in [f.outcome for f in check_step(text)]


# -- planting ----------------------------------------------------------------------------------------


STEP = r"So \(17 \times 4 = 68\), then 1,200 + 300 = 1,500 dollars, and 2.50 × 2 = 5.00 in total."


@given(seed=st.integers(0, 10**6))
@settings(deadline=None)  # the machine is shared: timings vary, results do not
def test_planted_result_slips_are_caught_where_they_were_planted(seed):
    rng = random.Random(seed)
    candidates = arithmetic_candidates(check_step(STEP))
    assert len(candidates) == 3
    plant = plant_arithmetic(STEP, rng.choice(candidates), rng)
    assert plant is not None and plant.replacement != plant.original
    assert plant.text[plant.start : plant.end] == plant.replacement
    hits = [f for f in check_step(plant.text) if f.outcome == MISMATCH]
    assert len(hits) == 1
    assert hits[0].start <= plant.start and plant.end <= hits[0].end


def test_planting_keeps_the_layout_of_the_number():
    rng = random.Random(3)
    findings = check_step("1,200 + 300 = 1,500 and 2.5 × 2 = 5.0")
    for candidate in arithmetic_candidates(findings):
        for _ in range(20):
            plant = plant_arithmetic("1,200 + 300 = 1,500 and 2.5 × 2 = 5.0", candidate, rng)
            assert plant is not None
            assert ("," in plant.replacement) == ("," in plant.original) or len(plant.replacement) <= 3
            assert plant.replacement.count(".") == plant.original.count(".")


def test_planted_algebra_slip_in_a_constant_has_no_solution():
    text = r"\[ (x + 2)(x + 3) = x^2 + 5x + 6 \]"
    candidate = algebra_candidates(check_step(text))[0]
    rng = random.Random(0)
    constants = 0
    for _ in range(30):
        plant = plant_algebra(text, candidate, rng)
        assert plant is not None and plant.replacement != plant.original
        if plant.original == "6":  # the constant term: the sides now differ by a constant
            constants += 1
            assert only(plant.text).rule == "no-solution"
    assert constants


# -- sympy as the oracle ------------------------------------------------------------------------------
# The checker decides arithmetic with exact rationals and identities by sampling; sympy, built from
# the same numbers through its constructors, is the reference both are held to.

sympy = pytest.importorskip("sympy")


def _expressions():
    """(LaTeX text, sympy value) pairs of random arithmetic: + - × ÷ fractions, parentheses, powers."""
    leaves = st.integers(0, 99).map(lambda n: (str(n), sympy.Integer(n)))

    def extend(children):
        binary = st.tuples(children, children, st.sampled_from(["+", "-", r"\times", "frac"]))

        def combine(parts):
            (a, x), (b, y), op = parts
            if x is None or y is None:  # a division by zero below: no value
                return (a, None)
            if op == "frac":
                return (rf"\frac{{{a}}}{{{b}}}", x / y if y != 0 else None)
            if op == r"\times":
                return (rf"({a}) \times ({b})", x * y)
            return (f"{a} {op} ({b})", x + y if op == "+" else x - y)

        def raise_to(part):
            (a, x), k = part
            return (rf"({a})^{{{k}}}", None if x is None else x**k)

        power = st.tuples(children, st.integers(0, 3)).map(raise_to)
        return binary.map(combine) | power

    return st.recursive(leaves, extend, max_leaves=8)


@given(_expressions(), st.integers(-3, 3))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arithmetic_agrees_with_sympy(expression, offset):
    latex, value = expression
    if latex.isdigit():
        return  # a lone number is not a calculation (rule bare-numbers)
    if value is None or value.has(sympy.nan, sympy.zoo) or not value.is_Rational or abs(value.p) > 10**12 or value.q > 10**6:
        return
    stated = value + offset
    claim = f"{stated.p}" if stated.q == 1 else rf"\frac{{{stated.p}}}{{{stated.q}}}"
    f = only(rf"\( {latex} = {claim} \)")
    assert f.outcome == (VERIFIED if offset == 0 else MISMATCH), (latex, value, f.detail)


@given(
    a=st.integers(-9, 9), b=st.integers(-9, 9), c=st.integers(-9, 9), d=st.integers(-9, 9),
    da=st.integers(-1, 1), db=st.integers(-1, 1), dc=st.integers(-1, 1),
)
@settings(max_examples=300, deadline=None)
def test_identity_verdicts_agree_with_sympy(a, b, c, d, da, db, dc):
    x = sympy.Symbol("x")
    left = (a * x + b) * (c * x + d)
    p, q, r = a * c + da, a * d + b * c + db, b * d + dc  # the expansion, perhaps with slips
    f = only(rf"\[ ({a}x + {b})({c}x + {d}) = {p}x^2 + {q}x + {r} \]".replace("+ -", "- "))
    difference = sympy.expand(left - (p * x**2 + q * x + r))
    if difference == 0:
        assert f.rule == "identity"
    elif difference.is_number:
        assert f.rule == "no-solution"
    else:
        assert (f.outcome, f.rule) == (ABSTAIN, "equation")


@given(a=st.integers(2, 200), b=st.integers(2, 200), k=st.integers(1, 12), shift=st.sampled_from([0, 0, 1]))
@settings(max_examples=100, deadline=None)
def test_radicals_agree_with_sympy(a, b, k, shift):
    inner = (a * b // (k * k) if (a * b) % (k * k) == 0 else a * b) + shift
    f = only(rf"\(\sqrt{{{a}}} \times \sqrt{{{b}}} = {k}\sqrt{{{inner}}}\)")
    equal = sympy.simplify(sympy.sqrt(a) * sympy.sqrt(b) - k * sympy.sqrt(inner)) == 0
    assert f.outcome in ((VERIFIED,) if equal else (MISMATCH, ABSTAIN)), f.detail
    if not equal and abs(sympy.N(sympy.sqrt(a * b) / (k * sympy.sqrt(inner))) - 1) > 0.1:
        assert f.outcome == MISMATCH


def test_the_rational_path_does_not_import_sympy():
    import subprocess
    import sys

    code = (
        "import sys; from oversight.symbolic import check_step; "
        "check_step(r'\\(17 \\times 4 = 58\\) and 2x + 3 = 2x + 3 and 20% of 50 = 10'); "
        "print('sympy' in sys.modules, any(m.startswith('django') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_benchmark_runs_on_its_synthetic_corpus():
    """bench/symbolic.py without ProcessBench: every planted slip in the templated chains is caught."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "symbolic.py"
    spec = importlib.util.spec_from_file_location("bench_symbolic", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_symbolic"] = bench  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules["bench_symbolic"]
    source = bench.synthetic(random.Random(1), n_chains=40)
    scores, false_alarms = bench.evaluate(source, random.Random(2))
    assert scores.planted > 20 and scores.hits == scores.planted
    assert false_alarms == [] and scores.planted_fp == 0
    assert scores.algebra_planted > 0
