//! Numbers from Lua, typed once: seconds, pids, integers in a range. Each
//! rejects NaN, infinities, negatives and out-of-range values with one line
//! that names the function and the argument, in plain words.

use std::time::Duration;

use mlua::Value;

use super::args::{fail, type_name};

/// The longest wait lunet accepts (about 31 years): longer is a mistake, and
/// it keeps every duration far from what a `Duration` can hold.
pub const MAX_SECONDS: f64 = 1e9;

/// A value as a user would describe it: `-1`, `1e+300`, `nan`, `a string`.
pub fn shown(v: &Value) -> String {
    match v {
        Value::Integer(n) => n.to_string(),
        Value::Number(n) if n.is_nan() => "nan".into(),
        Value::Number(n) if n.is_infinite() => if *n > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Number(n) if n.abs() >= 1e16 || (*n != 0.0 && n.abs() < 1e-4) => format!("{n:e}"),
        Value::Number(n) => format!("{n}"),
        Value::Boolean(b) => b.to_string(),
        Value::Nil => "nil".into(),
        other => type_name(other),
    }
}

/// A number of seconds, `None` when nil. `positive`: zero is refused too.
pub fn seconds(f: &str, what: &str, v: &Value, positive: bool) -> mlua::Result<Option<Duration>> {
    let n = match v {
        Value::Nil => return Ok(None),
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        _ => f64::NAN,
    };
    let ok = n.is_finite() && (if positive { n > 0.0 } else { n >= 0.0 }) && n <= MAX_SECONDS;
    if !ok {
        let range = if positive { "more than 0" } else { "0 or more" };
        return Err(fail(
            f,
            format!(
                "{what} must be a number of seconds, {range} and at most {MAX_SECONDS:e}, got {}",
                shown(v)
            ),
        ));
    }
    Ok(Some(Duration::from_secs_f64(n)))
}

/// A whole number in `min..=max` (a float with no fraction counts), or an error naming `what`.
pub fn integer(f: &str, what: &str, v: &Value, min: i64, max: i64) -> mlua::Result<i64> {
    let n = match v {
        Value::Integer(n) => Some(*n),
        Value::Number(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(_) => Err(fail(f, format!("{what} must be in {min}..{max}, got {}", shown(v)))),
        None => Err(fail(f, format!("{what} must be an integer, got {}", shown(v)))),
    }
}

/// A process id (1 .. 2^22, the kernel's largest pid_max).
pub fn pid(f: &str, what: &str, v: &Value) -> mlua::Result<i32> {
    integer(f, what, v, 1, 1 << 22).map(|n| n as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_reject_what_would_panic() {
        for v in [
            Value::Number(1e300),
            Value::Number(f64::INFINITY),
            Value::Number(f64::NAN),
            Value::Number(-0.5),
            Value::Integer(-1),
            Value::Integer(i64::MAX),
            Value::Boolean(true),
        ] {
            let e = seconds("f", "option \"timeout\"", &v, false).unwrap_err().to_string();
            assert!(e.contains("f: option \"timeout\" must be a number of seconds"), "{e}");
            assert!(!e.contains("Integer(") && !e.contains("Number("), "{e}");
        }
        assert!(seconds("f", "t", &Value::Integer(0), true).is_err());
        assert_eq!(
            seconds("f", "t", &Value::Number(1.5), true).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(seconds("f", "t", &Value::Nil, true).unwrap(), None);
    }

    #[test]
    fn pids_and_integers() {
        assert!(pid("f", "argument #1 (pid)", &Value::Number(2f64.powi(40))).is_err());
        assert!(pid("f", "p", &Value::Integer(0)).is_err());
        assert_eq!(pid("f", "p", &Value::Integer(42)).unwrap(), 42);
        let e = integer("f", "port", &Value::Number(1e300), 1, 65535)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("f: port must be an integer, got 1e300"), "{e}");
        let e = integer("f", "port", &Value::Integer(-1), 1, 65535)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("f: port must be in 1..65535, got -1"), "{e}");
    }
}
