//! Splitting a reply into Discord messages.
