//! Validator role.
pub mod json;
