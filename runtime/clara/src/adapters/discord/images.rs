//! Preparing attached images for a model: small images in a format models read pass through
//! untouched; anything else is decoded (within memory limits), shrunk to fit, flattened onto
//! white and re-encoded as JPEG under a byte cap.
//!
//! Decoding, resizing and encoding are CPU-bound (tens to hundreds of milliseconds for a
//! phone photo): callers run [`prepare`] on `tokio::task::spawn_blocking`, never on an async
//! worker thread.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Images up to this many bytes (and within the limits) are sent as they are.
const PASSTHROUGH_BYTES: u64 = 500 * 1024;

/// Files larger than this multiple of `max_bytes` are refused before decoding: a small
/// compressed file can expand to gigabytes of pixels, and a huge one is not worth the work.
const MAX_INPUT_FACTOR: u64 = 4;

/// The widest or tallest image decoded at all.
const MAX_DECODE_SIDE: u32 = 16_384;

/// The most memory the decoded pixels may take (an 8000 × 4000 RGBA image).
const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;

/// JPEG quality of the first attempt, then of the smaller ones.
const QUALITIES: [u8; 2] = [85, 70];

/// Each further attempt shrinks the image by this factor.
const SHRINK_FACTOR: f64 = 0.75;

/// Shrinking stops (and preparation fails) before the longest side would drop below this.
const MIN_LONGEST_SIDE: u32 = 64;

/// The formats passed through as they are; models read all four.
const PASSTHROUGH_FORMATS: [ImageFormat; 4] = [
    ImageFormat::Png,
    ImageFormat::Jpeg,
    ImageFormat::Gif,
    ImageFormat::WebP,
];

/// How large a prepared image may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// The longest side, in pixels, of an image sent to the model.
    pub max_dimension: u32,
    /// The most bytes an image sent to the model may take.
    pub max_bytes: u64,
}

/// An image ready to send to a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedImage {
    /// Its MIME type, e.g. `image/jpeg`.
    pub media_type: String,
    /// The encoded image.
    pub data: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Why an attachment cannot be given to the model; the messages are meant for its sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Not an image, or a damaged one.
    #[error("this file is not an image that can be read, or it is damaged")]
    NotAnImage,
    /// An image in a format that is not accepted.
    #[error("{format} images are not supported; please send a PNG, JPEG, GIF or WebP")]
    UnsupportedFormat {
        /// The format's usual name, e.g. `TIFF`.
        format: String,
    },
    /// The file is too big to open at all.
    #[error("this image file is too big to open ({}, at most {} accepted)", kib(*.size), kib(*.limit))]
    FileTooLarge {
        /// Its size in bytes.
        size: u64,
        /// The largest accepted size in bytes.
        limit: u64,
    },
    /// Its pixels would take too much memory to decode.
    #[error("this image has too many pixels to open")]
    TooManyPixels,
    /// Still over the byte cap at the smallest size and quality tried.
    #[error("this image is still larger than {} even after shrinking it", kib(*.limit))]
    TooLarge {
        /// The byte cap.
        limit: u64,
    },
}

/// Prepares `bytes` (an attachment) for a model within `limits`.
///
/// A PNG, JPEG, GIF or WebP within `max_dimension` on both sides and within 500 KiB (and
/// `max_bytes`) is returned as it is. Anything else is decoded (EXIF rotation applied),
/// scaled down so its longest side is at most `max_dimension` (never up), flattened onto
/// white and encoded as JPEG at quality 85; while that exceeds `max_bytes`, quality drops to
/// 70 and then the image shrinks by a quarter at a time. CPU-bound: run it on
/// `spawn_blocking`.
pub fn prepare(bytes: &[u8], limits: &ImageLimits) -> Result<PreparedImage, ImageError> {
    let size = bytes.len() as u64;
    let input_limit = limits.max_bytes.saturating_mul(MAX_INPUT_FACTOR);
    if size > input_limit {
        return Err(ImageError::FileTooLarge {
            size,
            limit: input_limit,
        });
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageError::NotAnImage)?;
    let format = reader.format().ok_or(ImageError::NotAnImage)?;
    if !PASSTHROUGH_FORMATS.contains(&format) {
        return Err(ImageError::UnsupportedFormat {
            format: format_name(format),
        });
    }
    let mut reader = reader;
    reader.limits(decoding_limits());
    let mut decoder = reader.into_decoder().map_err(decoding_error)?;
    let (width, height) = decoder.dimensions();
    if width.max(height) <= limits.max_dimension && size <= PASSTHROUGH_BYTES.min(limits.max_bytes)
    {
        return Ok(PreparedImage {
            media_type: format.to_mime_type().to_owned(),
            data: bytes.to_vec(),
            width,
            height,
        });
    }

    // A damaged EXIF block costs only the rotation, not the image.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // `ImageReader::decode` checks the pixel buffer against the memory limit, but it cannot
    // hand over the orientation, so the check is repeated here.
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(ImageError::TooManyPixels);
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(decoding_error)?;
    image.apply_orientation(orientation);
    let fitted = flatten_on_white(fit(image, limits.max_dimension));
    encode_within(&fitted, limits.max_bytes)
}

/// The image scaled down so its longest side is at most `max_dimension`; smaller images are
/// left as they are (upscaling only adds bytes, never detail).
fn fit(image: DynamicImage, max_dimension: u32) -> DynamicImage {
    let longest = image.width().max(image.height());
    if longest <= max_dimension {
        return image;
    }
    let (width, height) = scaled(
        image.width(),
        image.height(),
        f64::from(max_dimension) / f64::from(longest),
    );
    image.resize_exact(width, height, FilterType::CatmullRom)
}

/// `width` × `height` scaled by `factor`, each side at least one pixel.
fn scaled(width: u32, height: u32, factor: f64) -> (u32, u32) {
    let side = |length: u32| ((f64::from(length) * factor).round() as u32).max(1);
    (side(width), side(height))
}

/// The image on a white background, without alpha (JPEG has none, and models see
/// transparent pixels as whatever colour they happen to store, often black).
fn flatten_on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |channel: u8| {
            let alpha = u16::from(a);
            let mixed = u16::from(channel) * alpha + 255 * (255 - alpha);
            ((mixed + 127) / 255) as u8
        };
        image::Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

/// The image as JPEG within `max_bytes`: quality 85, then 70, then shrinking by a quarter at
/// a time until it fits or would get too small to be of use.
fn encode_within(image: &RgbImage, max_bytes: u64) -> Result<PreparedImage, ImageError> {
    for quality in QUALITIES {
        let data = encode_jpeg(image, quality)?;
        if data.len() as u64 <= max_bytes {
            return Ok(jpeg(data, image));
        }
    }
    let mut factor = SHRINK_FACTOR;
    loop {
        let (width, height) = scaled(image.width(), image.height(), factor);
        if width.max(height) < MIN_LONGEST_SIDE {
            return Err(ImageError::TooLarge { limit: max_bytes });
        }
        // Each size is made from the fitted image, not the previous attempt, so the blur of
        // repeated resampling does not add up.
        let smaller = image::imageops::resize(image, width, height, FilterType::CatmullRom);
        let data = encode_jpeg(&smaller, QUALITIES[QUALITIES.len() - 1])?;
        if data.len() as u64 <= max_bytes {
            return Ok(jpeg(data, &smaller));
        }
        factor *= SHRINK_FACTOR;
    }
}

/// `image` encoded as JPEG at `quality`.
fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    let mut data = Vec::new();
    JpegEncoder::new_with_quality(&mut data, quality)
        .encode_image(image)
        // Encoding RGB pixels into memory has no failure a sender could act on; treat it
        // like an unreadable image.
        .map_err(|_| ImageError::NotAnImage)?;
    Ok(data)
}

/// A prepared JPEG of `image`'s size.
fn jpeg(data: Vec<u8>, image: &RgbImage) -> PreparedImage {
    PreparedImage {
        media_type: ImageFormat::Jpeg.to_mime_type().to_owned(),
        data,
        width: image.width(),
        height: image.height(),
    }
}

/// Limits that keep a hostile file from taking much memory while it is decoded.
fn decoding_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// A decoding failure as the sender should hear it.
fn decoding_error(error: image::ImageError) -> ImageError {
    match error {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        _ => ImageError::NotAnImage,
    }
}

/// A format's usual name, e.g. `TIFF`.
fn format_name(format: ImageFormat) -> String {
    format
        .extensions_str()
        .first()
        .map_or_else(|| format!("{format:?}"), |ext| ext.to_ascii_uppercase())
}

/// `bytes` in KiB (or MiB from 1 MiB on), for messages.
fn kib(bytes: u64) -> String {
    const KIB: u64 = 1024;
    if bytes >= KIB * KIB {
        format!("{:.1} MiB", bytes as f64 / (KIB * KIB) as f64)
    } else {
        format!("{} KiB", bytes.div_ceil(KIB))
    }
}

#[cfg(test)]
mod tests;
