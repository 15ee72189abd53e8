//! rovd — an RPKI-to-Router cache daemon, privilege-separated.
#![forbid(unsafe_code)]

pub mod config;
pub mod msg;
pub mod payload;
pub mod testdata;
pub mod validator;
