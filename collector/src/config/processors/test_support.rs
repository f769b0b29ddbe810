//! Reading processor configs from YAML text, for the tests of every processors module.

use serde::de::DeserializeOwned;

use crate::config::de::{DeError, from_node};
use crate::config::yaml::parse;

pub(super) fn de<T: DeserializeOwned>(src: &str) -> Result<T, DeError> {
    from_node(&parse(src).unwrap().unwrap())
}

pub(super) fn err<T: DeserializeOwned + std::fmt::Debug>(src: &str) -> DeError {
    de::<T>(src).unwrap_err()
}
