//! Request and response envelopes (PROTOCOL.md section 5): `q t r s d` and
//! `q S e R`, strictly typed, unknown keys ignored.

use rmpv::Value;

use crate::msgpack::{self, FieldError, FieldProblem, MapView};
use crate::status::Status;

/// A plaintext that is not a request map (rule 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed request envelope: {reason}")]
pub struct EnvelopeError {
    /// The request's `q`, where it could be read.
    pub q: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// One request, as the client sent it. `Debug` shows neither the session
/// token nor the payload (a `start-session` payload holds the license key).
#[derive(Clone, PartialEq)]
pub struct Request {
    /// `q`: the sequence number.
    pub q: u64,
    /// `t`: the client's UTC UNIX time in seconds.
    pub t: i64,
    /// `r`: the method name.
    pub r: String,
    /// `s`: the session token. A mistyped `s` reads as absent.
    pub s: Option<String>,
    /// `d`: the payload as sent (map, nil, a `bin` holding a map, or anything
    /// else, which [`Request::payload`] refuses).
    pub d: Value,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("q", &self.q)
            .field("t", &self.t)
            .field("r", &self.r)
            .field("s", &self.s.as_ref().map(|_| "<redacted>"))
            .field("d", &"<redacted>")
            .finish()
    }
}

impl Request {
    /// Decodes a request plaintext, applying rule 3.
    pub fn decode(plaintext: &[u8]) -> Result<Self, EnvelopeError> {
        let value = msgpack::decode(plaintext).map_err(|e| EnvelopeError {
            q: None,
            reason: e.to_string(),
        })?;
        Self::from_value(value)
    }

    /// Reads a request from an already decoded value.
    pub fn from_value(value: Value) -> Result<Self, EnvelopeError> {
        let Value::Map(entries) = value else {
            return Err(EnvelopeError {
                q: None,
                reason: "not a map".into(),
            });
        };
        let view = MapView::of_entries(&entries);
        let q = view.u64("q").ok();
        let bad = |e: FieldError| EnvelopeError {
            q,
            reason: e.to_string(),
        };
        let q_value = view.u64("q").map_err(bad)?;
        let t = match view.get("t") {
            None => return Err(bad(FieldError::new("t", FieldProblem::Missing))),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| bad(FieldError::new("t", FieldProblem::WrongType("an int64"))))?,
        };
        let r = view.str("r").map_err(bad)?.to_owned();
        let s = view.opt_str("s").ok().flatten().map(str::to_owned);
        let mut d = Value::Nil;
        for (k, v) in entries {
            if k.as_str() == Some("d") {
                d = v;
                break;
            }
        }
        Ok(Request {
            q: q_value,
            t,
            r,
            s,
            d,
        })
    }

    /// The payload map (rule 8): `d` as a map, a `bin` holding a MessagePack
    /// map, or nil/absent (`None`). Anything else is a `BAD_REQUEST` naming `d`.
    pub fn payload(&self) -> Result<Option<Value>, FieldError> {
        match &self.d {
            Value::Nil => Ok(None),
            Value::Map(_) => Ok(Some(self.d.clone())),
            Value::Binary(bytes) => match msgpack::decode(bytes) {
                Ok(inner @ Value::Map(_)) => Ok(Some(inner)),
                Ok(Value::Nil) => Ok(None),
                Ok(_) => Err(FieldError::new(
                    "d",
                    FieldProblem::Invalid("bin does not hold a MessagePack map".into()),
                )),
                Err(e) => Err(FieldError::new(
                    "d",
                    FieldProblem::Invalid(format!("bin does not hold MessagePack: {e}")),
                )),
            },
            _ => Err(FieldError::new(
                "d",
                FieldProblem::WrongType("a map, nil or bin"),
            )),
        }
    }

    /// The plaintext MessagePack of this request, keys in the order `q t r s d`.
    pub fn encode(&self) -> Vec<u8> {
        msgpack::encode(&msgpack::map([
            ("q", Value::from(self.q)),
            ("t", Value::from(self.t)),
            ("r", Value::from(self.r.as_str())),
            (
                "s",
                self.s.as_deref().map(Value::from).unwrap_or(Value::Nil),
            ),
            ("d", self.d.clone()),
        ]))
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// `q`: the request's sequence number; `None` (nil) only when a malformed
    /// request's `q` could not be read.
    pub q: Option<u64>,
    /// `S`: the status.
    pub status: Status,
    /// `e`: the localized error message; `None` on success.
    pub e: Option<String>,
    /// `R`: the payload; nil on every non-OK status.
    pub result: Value,
}

/// A response that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed response: {0}")]
pub struct ResponseError(pub String);

impl Response {
    /// A successful response carrying `result`.
    pub fn ok(q: u64, result: Value) -> Self {
        Response {
            q: Some(q),
            status: Status::Ok,
            e: None,
            result,
        }
    }

    /// A failed response with a message; `R` is nil.
    pub fn error(q: Option<u64>, status: Status, message: impl Into<String>) -> Self {
        Response {
            q,
            status,
            e: Some(message.into()),
            result: Value::Nil,
        }
    }

    /// The plaintext MessagePack of this response, keys in the order `q S e R`.
    pub fn encode(&self) -> Vec<u8> {
        msgpack::encode(&msgpack::map([
            ("q", self.q.map(Value::from).unwrap_or(Value::Nil)),
            ("S", Value::from(self.status.as_str())),
            (
                "e",
                self.e.as_deref().map(Value::from).unwrap_or(Value::Nil),
            ),
            ("R", self.result.clone()),
        ]))
    }

    /// Encodes an `OK` response whose `R` is already MessagePack-encoded, so a
    /// server can answer repeated requests from a cached result without
    /// re-encoding it. Byte for byte the same as [`Response::ok`] + [`encode`](Self::encode).
    pub fn encode_ok_with_encoded_result(q: u64, encoded_result: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + encoded_result.len());
        // Writing into a Vec cannot fail.
        let _ = rmp::encode::write_map_len(&mut out, 4);
        let _ = rmp::encode::write_str(&mut out, "q");
        let _ = rmp::encode::write_uint(&mut out, q);
        let _ = rmp::encode::write_str(&mut out, "S");
        let _ = rmp::encode::write_str(&mut out, Status::Ok.as_str());
        let _ = rmp::encode::write_str(&mut out, "e");
        let _ = rmp::encode::write_nil(&mut out);
        let _ = rmp::encode::write_str(&mut out, "R");
        out.extend_from_slice(encoded_result);
        out
    }

    /// Decodes a response plaintext. An unknown status is an error: this
    /// version of the protocol lists them all.
    pub fn decode(plaintext: &[u8]) -> Result<Self, ResponseError> {
        let value = msgpack::decode(plaintext).map_err(|e| ResponseError(e.to_string()))?;
        let Value::Map(entries) = value else {
            return Err(ResponseError("not a map".into()));
        };
        let view = MapView::of_entries(&entries);
        let err = |e: FieldError| ResponseError(e.to_string());
        let q = match view.get("q") {
            None => None,
            Some(_) => Some(view.u64("q").map_err(err)?),
        };
        let status_text = view.str("S").map_err(err)?;
        let status = Status::parse(status_text)
            .ok_or_else(|| ResponseError(format!("unknown status {status_text}")))?;
        let e = view.opt_str("e").map_err(err)?.map(str::to_owned);
        let mut result = Value::Nil;
        for (k, v) in entries {
            if k.as_str() == Some("R") {
                result = v;
                break;
            }
        }
        Ok(Response {
            q,
            status,
            e,
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(entries: Vec<(&str, Value)>) -> Vec<u8> {
        msgpack::encode(&Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        ))
    }

    #[test]
    fn envelope_errors_carry_q_when_readable() {
        let e = Request::decode(&req(vec![("q", Value::from(4)), ("r", Value::from("x"))]))
            .unwrap_err();
        assert_eq!(e.q, Some(4));
        assert!(e.reason.contains("`t`"), "{}", e.reason);
        let e = Request::decode(&req(vec![("q", Value::from("4"))])).unwrap_err();
        assert_eq!(e.q, None);
        assert!(Request::decode(&[0x01]).is_err());
    }

    #[test]
    fn mistyped_s_reads_as_absent_and_unknown_keys_are_ignored() {
        let r = Request::decode(&req(vec![
            ("q", Value::from(1)),
            ("t", Value::from(5)),
            ("r", Value::from("m")),
            ("s", Value::from(3)),
            ("zz", Value::from(true)),
        ]))
        .unwrap();
        assert_eq!(r.s, None);
        assert_eq!(r.d, Value::Nil);
    }

    #[test]
    fn payload_accepts_map_nil_and_bin_holding_a_map() {
        let mut r = Request {
            q: 0,
            t: 0,
            r: "m".into(),
            s: None,
            d: Value::Nil,
        };
        assert_eq!(r.payload(), Ok(None));
        let map = msgpack::map([("a", Value::from(1))]);
        r.d = Value::Binary(msgpack::encode(&map));
        assert_eq!(r.payload(), Ok(Some(map.clone())));
        r.d = map.clone();
        assert_eq!(r.payload(), Ok(Some(map)));
        r.d = Value::from(3);
        assert_eq!(r.payload().unwrap_err().field, "d");
        r.d = Value::Binary(vec![0x01]);
        assert_eq!(r.payload().unwrap_err().field, "d");
        r.d = Value::Binary(vec![0xc1]);
        assert_eq!(r.payload().unwrap_err().field, "d");
    }

    #[test]
    fn pre_encoded_results_encode_like_values() {
        let result = msgpack::map([("engine.limits.sendMessage.dailyLimit", Value::from(150))]);
        for q in [0, 1, 127, 128, 70_000, u64::MAX] {
            assert_eq!(
                Response::encode_ok_with_encoded_result(q, &msgpack::encode(&result)),
                Response::ok(q, result.clone()).encode()
            );
        }
    }

    #[test]
    fn response_with_nil_q_round_trips() {
        let resp = Response::error(None, Status::BadRequest, "bad");
        assert_eq!(Response::decode(&resp.encode()).unwrap(), resp);
    }
}
