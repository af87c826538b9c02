//! Checks of image preparation: pass-through, downscaling (never up), flattening, the byte
//! cap and the guards against hostile files.

use image::{Rgb, RgbImage, Rgba, RgbaImage};

use super::*;

/// The limits the adapter uses by default.
const LIMITS: ImageLimits = ImageLimits {
    max_dimension: 1568,
    max_bytes: 5 * 1024 * 1024,
};

/// `image` encoded as PNG.
fn png(image: impl Into<DynamicImage>) -> Vec<u8> {
    let mut data = Vec::new();
    image
        .into()
        .write_to(&mut Cursor::new(&mut data), ImageFormat::Png)
        .expect("encode png");
    data
}

/// A smooth gradient, cheap to compress.
fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    })
}

/// Pseudo-random pixels, which neither PNG nor JPEG can compress much.
fn noise(width: u32, height: u32) -> RgbImage {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [r, g, b, ..] = state.to_le_bytes();
        Rgb([r, g, b])
    })
}

/// Decodes a prepared image, checking it is what it claims to be.
fn decoded(prepared: &PreparedImage) -> DynamicImage {
    let image = image::load_from_memory(&prepared.data).expect("decodes");
    assert_eq!(
        (image.width(), image.height()),
        (prepared.width, prepared.height)
    );
    image
}

#[test]
fn a_wide_image_is_scaled_to_the_max_dimension_keeping_its_aspect() {
    let prepared = prepare(&png(gradient(3000, 1000)), &LIMITS).expect("prepared");
    assert_eq!(prepared.media_type, "image/jpeg");
    assert_eq!((prepared.width, prepared.height), (1568, 523));
    assert!(prepared.data.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    decoded(&prepared);
}

#[test]
fn a_small_png_passes_through_unchanged() {
    let original = png(gradient(120, 80));
    let prepared = prepare(&original, &LIMITS).expect("prepared");
    assert_eq!(
        prepared,
        PreparedImage {
            media_type: "image/png".to_owned(),
            data: original,
            width: 120,
            height: 80,
        }
    );
}

#[test]
fn a_small_image_with_many_bytes_is_reencoded_but_never_upscaled() {
    let original = png(noise(600, 400));
    assert!(
        original.len() as u64 > PASSTHROUGH_BYTES,
        "test image too small"
    );
    let prepared = prepare(&original, &LIMITS).expect("prepared");
    assert_eq!(prepared.media_type, "image/jpeg");
    assert_eq!((prepared.width, prepared.height), (600, 400));
    decoded(&prepared);
}

#[test]
fn transparency_is_flattened_onto_white() {
    // Left half transparent (storing black, as many encoders do), right half opaque blue,
    // and too wide to pass through.
    let image = RgbaImage::from_fn(200, 100, |x, _| {
        if x < 100 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let limits = ImageLimits {
        max_dimension: 100,
        ..LIMITS
    };
    let prepared = prepare(&png(image), &limits).expect("prepared");
    assert_eq!((prepared.width, prepared.height), (100, 50));
    let pixels = decoded(&prepared).into_rgb8();
    let Rgb([r, g, b]) = *pixels.get_pixel(10, 25);
    assert!(r > 245 && g > 245 && b > 245, "not white: {r} {g} {b}");
    let Rgb([r, g, b]) = *pixels.get_pixel(90, 25);
    assert!(r < 20 && g < 20 && b > 230, "not blue: {r} {g} {b}");
}

#[test]
fn half_transparent_pixels_are_mixed_with_white() {
    let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(2, 1, Rgba([0, 0, 0, 128])));
    assert_eq!(
        flatten_on_white(image).get_pixel(0, 0),
        &Rgb([127, 127, 127])
    );
}

#[test]
fn garbage_and_unsupported_formats_get_a_clear_error() {
    let garbage = b"this is certainly not an image, just some text".to_vec();
    let error = prepare(&garbage, &LIMITS).unwrap_err();
    assert_eq!(error, ImageError::NotAnImage);
    assert!(error.to_string().contains("not an image"), "{error}");

    let mut truncated = png(gradient(50, 50));
    truncated.truncate(40);
    assert_eq!(prepare(&truncated, &LIMITS), Err(ImageError::NotAnImage));

    let bmp_header = b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00".to_vec();
    let error = prepare(&bmp_header, &LIMITS).unwrap_err();
    assert_eq!(
        error,
        ImageError::UnsupportedFormat {
            format: "BMP".to_owned()
        }
    );
    assert_eq!(
        error.to_string(),
        "BMP images are not supported; please send a PNG, JPEG, GIF or WebP"
    );
}

#[test]
fn the_byte_cap_is_honoured_by_lowering_quality_then_size() {
    let limits = ImageLimits {
        max_dimension: 1568,
        max_bytes: 60 * 1024,
    };
    // About 200 KiB as PNG, 100 KiB as JPEG at quality 85 and 75 KiB at 70.
    let original = png(noise(256, 256));
    assert!(original.len() as u64 <= limits.max_bytes * MAX_INPUT_FACTOR);
    let prepared = prepare(&original, &limits).expect("prepared");
    assert!(prepared.data.len() as u64 <= limits.max_bytes);
    assert_eq!(prepared.width, 192, "noise fits only a quarter smaller");
    assert_eq!(prepared.width, prepared.height);
    decoded(&prepared);

    let hopeless = ImageLimits {
        max_dimension: 100,
        max_bytes: 300,
    };
    // Even the smallest JPEG's headers take more than 300 bytes.
    let small = png(RgbImage::from_pixel(150, 150, Rgb([90, 120, 200])));
    assert!(small.len() as u64 <= hopeless.max_bytes * MAX_INPUT_FACTOR);
    let error = prepare(&small, &hopeless).unwrap_err();
    assert_eq!(error, ImageError::TooLarge { limit: 300 });
    assert!(error.to_string().contains("after shrinking"), "{error}");
}

#[test]
fn files_far_over_the_cap_are_refused_before_decoding() {
    let limits = ImageLimits {
        max_dimension: 1568,
        max_bytes: 1024,
    };
    // Not even an image: refused for its size before anyone looks at it.
    let error = prepare(&vec![0_u8; 4 * 1024 + 1], &limits).unwrap_err();
    assert_eq!(
        error,
        ImageError::FileTooLarge {
            size: 4 * 1024 + 1,
            limit: 4 * 1024,
        }
    );
    assert_eq!(
        error.to_string(),
        "this image file is too big to open (5 KiB, at most 4 KiB accepted)"
    );
}

#[test]
fn a_header_claiming_huge_dimensions_is_refused_before_decoding() {
    let mut bomb = png(gradient(1, 1));
    // IHDR's width and height, then the chunk's CRC over its type and data.
    bomb[16..20].copy_from_slice(&60_000_u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60_000_u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(prepare(&bomb, &LIMITS), Err(ImageError::TooManyPixels));
}

/// The CRC-32 PNG chunks carry.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0_u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
