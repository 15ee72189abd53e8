//! Deterministic data sets.
