//! How server functions' answers travel: JSON, read in the browser as text.
//!
//! Leptos reads a resource's value sent with the page through `serde_json::from_str`, and a
//! server function's answer (its default `Json` output) through `from_slice`. Every type read
//! both ways was compiled into the WebAssembly twice, once per reader — about a tenth of the
//! bundle. Answers read with `from_str` as well share the one copy. The bytes on the wire are
//! the same JSON as before.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::{DeserializeOwned, Error as _};

/// JSON in a `POST` answer, read back with `serde_json::from_str`.
pub type JsonText = Post<JsonTextEncoding>;

#[derive(Debug)]
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_as_json_text() {
        let value = vec![("a".to_owned(), 1u32), ("b".to_owned(), 2)];
        let bytes = <JsonTextEncoding as Encodes<_>>::encode(&value).expect("encodes");
        assert_eq!(&bytes[..], br#"[["a",1],["b",2]]"#);
        let back: Vec<(String, u32)> = JsonTextEncoding::decode(bytes).expect("decodes");
        assert_eq!(back, value);
    }

    #[test]
    fn bytes_that_are_not_text_are_an_error_not_a_panic() {
        let err = <JsonTextEncoding as Decodes<Vec<u32>>>::decode(Bytes::from_static(b"[\xff]"))
            .expect_err("invalid UTF-8");
        assert!(err.to_string().contains("utf-8"), "{err}");
    }
}
