//! rpki-client JSON reader.
