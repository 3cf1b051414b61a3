//! Decoding helpers for what Go's JSON decoder accepts and serde does not by default.

use serde::{Deserialize, Deserializer};

/// `null` decodes to the type's zero value, as Go's `encoding/json` leaves a field
/// untouched on `null` (docker-py sends `"Gateway": null` and the like).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
