//! Preparing attached images for a model.
