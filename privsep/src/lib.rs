//! Privilege separation primitives.

/// A message type that can travel over a channel.
pub trait Message: serde::Serialize + serde::de::DeserializeOwned {
    /// The frame type number of this message.
    fn kind(&self) -> u16;
}
