//! A check: a measured number against a threshold from the profile, with the paper's value beside
//! it. The check knows its comparison: the criterion's words and the verdict come from the same
//! [`Cmp`], so a threshold is written once (in the profile) and never again in prose.

use serde::Serialize;

/// A measured number with its unit and the digits it is shown with.
#[derive(Debug, Clone, Copy)]
pub struct Num {
    /// The value.
    pub value: f64,
    /// The unit, appended after a space (`dB`), or empty.
    pub unit: &'static str,
    /// Digits after the decimal point; `None` is scientific notation with one digit.
    pub digits: Option<usize>,
}

impl Num {
    /// `value` shown with `digits` decimals and no unit.
    pub fn plain(value: f64, digits: usize) -> Self {
        Self {
            value,
            unit: "",
            digits: Some(digits),
        }
    }

    /// `value` in dB with 2 decimals.
    pub fn db(value: f64) -> Self {
        Self {
            value,
            unit: "dB",
            digits: Some(2),
        }
    }

    /// `value` in scientific notation (`1.2e-5`).
    pub fn sci(value: f64) -> Self {
        Self {
            value,
            unit: "",
            digits: None,
        }
    }

    /// The same number with a sign (`+3.10 dB`).
    fn text(&self, signed: bool) -> String {
        let v = match (self.digits, signed) {
            (Some(d), true) => format!("{:+.*}", d, self.value),
            (Some(d), false) => format!("{:.*}", d, self.value),
            (None, _) => format!("{:.1e}", self.value),
        };
        if self.unit.is_empty() {
            v
        } else {
            format!("{v} {}", self.unit)
        }
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(false))
    }
}

/// A comparison of a measured value with a threshold.
#[derive(Debug, Clone, Copy)]
pub enum Cmp {
    /// value > threshold.
    Above(f64),
    /// value < threshold.
    Below(f64),
    /// value ≤ threshold.
    AtMost(f64),
    /// value ≥ threshold.
    AtLeast(f64),
}

impl Cmp {
    fn holds(self, v: f64) -> bool {
        match self {
            Cmp::Above(t) => v > t,
            Cmp::Below(t) => v < t,
            Cmp::AtMost(t) => v <= t,
            Cmp::AtLeast(t) => v >= t,
        }
    }

    fn words(self, unit: &str) -> String {
        let (op, t) = match self {
            Cmp::Above(t) => (">", t),
            Cmp::Below(t) => ("<", t),
            Cmp::AtMost(t) => ("≤", t),
            Cmp::AtLeast(t) => ("≥", t),
        };
        if unit.is_empty() {
            format!("{op} {t}")
        } else {
            format!("{op} {t} {unit}")
        }
    }
}

/// One comparison of a measured quantity with the paper, as rendered.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    /// What is compared.
    pub claim: String,
    /// Our measured value, formatted.
    pub ours: String,
    /// The paper's value or expectation.
    pub paper: String,
    /// The criterion, in words (made from the same comparison as `pass`).
    pub criterion: String,
    /// Whether the criterion holds.
    pub pass: bool,
}

impl Check {
    /// `ours` compared by `cmp` with a threshold; the criterion's words come from `cmp`.
    pub fn compare(
        claim: impl Into<String>,
        ours: Num,
        cmp: Cmp,
        paper: impl Into<String>,
    ) -> Self {
        Self {
            claim: claim.into(),
            ours: ours.to_string(),
            paper: paper.into(),
            criterion: cmp.words(ours.unit),
            pass: ours.value.is_finite() && cmp.holds(ours.value),
        }
    }

    /// Like [`Check::compare`], with the value shown as `shown` (for example with context).
    pub fn compare_shown(
        claim: impl Into<String>,
        value: Num,
        shown: impl Into<String>,
        cmp: Cmp,
        paper: impl Into<String>,
    ) -> Self {
        Self {
            ours: shown.into(),
            ..Self::compare(claim, value, cmp, paper)
        }
    }

    /// Every one of `terms` (a name, a value, a comparison) holds; the criterion joins the
    /// terms' comparisons with "and" (`λ_5 > 0.5 and λ_(d/4) / λ_5 < 0.5`).
    pub fn all(
        claim: impl Into<String>,
        terms: &[(&str, Num, Cmp)],
        shown: impl Into<String>,
        paper: impl Into<String>,
    ) -> Self {
        Self {
            claim: claim.into(),
            ours: shown.into(),
            paper: paper.into(),
            criterion: terms
                .iter()
                .map(|(name, n, c)| format!("{name} {}", c.words(n.unit)))
                .collect::<Vec<_>>()
                .join(" and "),
            pass: terms
                .iter()
                .all(|(_, n, c)| n.value.is_finite() && c.holds(n.value)),
        }
    }

    /// `last` is above `first` (a quantity rises from one end of a sweep to the other).
    pub fn rises(
        claim: impl Into<String>,
        first: Num,
        last: Num,
        paper: impl Into<String>,
    ) -> Self {
        Self {
            claim: claim.into(),
            ours: format!("{} → {}", first, last),
            paper: paper.into(),
            criterion: "last > first".into(),
            pass: last.value > first.value,
        }
    }

    /// `last` is below `first`, shown as `shown`.
    pub fn falls(
        claim: impl Into<String>,
        first: f64,
        last: f64,
        shown: impl Into<String>,
        paper: impl Into<String>,
    ) -> Self {
        Self {
            claim: claim.into(),
            ours: shown.into(),
            paper: paper.into(),
            criterion: "last < first".into(),
            pass: last < first,
        }
    }

    /// A count of successes out of a total, passing when all succeed.
    pub fn every(
        claim: impl Into<String>,
        ok: usize,
        of: usize,
        what: &str,
        paper: impl Into<String>,
        criterion: impl Into<String>,
    ) -> Self {
        Self {
            claim: claim.into(),
            ours: format!("{ok} of {of} {what}"),
            paper: paper.into(),
            criterion: criterion.into(),
            pass: ok == of,
        }
    }

    /// The signed form of a number, for gains.
    pub fn signed(n: Num) -> String {
        n.text(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_criterion_and_the_verdict_come_from_one_comparison() {
        let c = Check::compare("gain", Num::db(3.5), Cmp::Above(3.0), "> 0");
        assert!(c.pass);
        assert_eq!(c.criterion, "> 3 dB");
        assert_eq!(c.ours, "3.50 dB");
        let c = Check::compare("gain", Num::db(2.5), Cmp::Above(3.0), "> 0");
        assert!(!c.pass);
        let at_least = Check::compare("c", Num::plain(0.8, 2), Cmp::AtLeast(0.8), "");
        assert!(at_least.pass, "≥ holds at the threshold");
        assert_eq!(at_least.criterion, "≥ 0.8");
        assert!(!Check::compare("c", Num::plain(0.79, 2), Cmp::AtLeast(0.8), "").pass);
        let nan = Check::compare("x", Num::plain(f64::NAN, 2), Cmp::Below(1.0), "");
        assert!(!nan.pass, "a NaN never passes");
        let sci = Check::compare("r", Num::sci(2e-5), Cmp::Below(1e-3), "");
        assert_eq!(
            (sci.ours.as_str(), sci.criterion.as_str()),
            ("2.0e-5", "< 0.001")
        );
        assert!(Check::rises("r", Num::plain(0.1, 3), Num::plain(0.5, 3), "").pass);
        let both = Check::all(
            "decay",
            &[
                ("a", Num::plain(1.0, 1), Cmp::Above(0.5)),
                ("b", Num::plain(0.6, 1), Cmp::Below(0.5)),
            ],
            "1.0, 0.6",
            "",
        );
        assert_eq!(both.criterion, "a > 0.5 and b < 0.5");
        assert!(!both.pass, "one term fails");
        assert!(!Check::rises("r", Num::plain(0.5, 3), Num::plain(0.1, 3), "").pass);
    }
}
