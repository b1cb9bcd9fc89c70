//! Image dimensions and thumbnails, bounded in memory, pixels and time.
//!
//! Decompression bombs (a small file declaring a huge image) are refused before decoding:
//! [`dimensions`] reads only the header, and the caller compares the pixel count with its
//! limit. Decoding then runs with `image::Limits` (width, height, allocation) as a second
//! fence; the caller runs it on the blocking pool with a timeout.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// Longest side of a thumbnail.
pub const THUMB_SIZE: u32 = 320;

/// Why an image could not be measured or thumbnailed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image is {width}×{height} pixels, more than the {limit}-pixel limit")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("image could not be decoded: {0}")]
    Decode(String),
}

/// Width and height from the image header only.
pub fn dimensions(head: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(head))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Refuses images above `max_pixels`.
pub fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), ImageError> {
    if u64::from(width) * u64::from(height) > max_pixels || width == 0 || height == 0 {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }
    Ok(())
}

/// A thumbnail: PNG when the image has transparency, JPEG otherwise; with its size.
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Decodes a whole image (checked again against `max_pixels`) and scales it to fit
/// [`THUMB_SIZE`]. CPU-bound: run it on the blocking pool.
pub fn thumbnail(data: &[u8], max_pixels: u64) -> Result<Thumbnail, ImageError> {
    let (w, h) = dimensions(data).ok_or_else(|| ImageError::Decode("unreadable header".into()))?;
    check_pixels(w, h, max_pixels)?;
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let mut limits = Limits::default();
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    // RGBA8 of the largest allowed image, plus room for the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let thumb = img.thumbnail(THUMB_SIZE, THUMB_SIZE);
    let mut out = Cursor::new(Vec::new());
    let content_type = if thumb.color().has_alpha() {
        thumb
            .write_to(&mut out, ImageFormat::Png)
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        "image/png"
    } else {
        image::DynamicImage::ImageRgb8(thumb.to_rgb8())
            .write_to(&mut out, ImageFormat::Jpeg)
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        "image/jpeg"
    };
    Ok(Thumbnail {
        width: thumb.width(),
        height: thumb.height(),
        bytes: out.into_inner(),
        content_type,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 99]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn thumbnails_fit_the_box() {
        let data = png(800, 400);
        assert_eq!(dimensions(&data[..64]), Some((800, 400)));
        let t = thumbnail(&data, 1_000_000).unwrap();
        assert_eq!((t.width, t.height), (320, 160));
        assert_eq!(t.content_type, "image/jpeg");
        assert_eq!(dimensions(&t.bytes), Some((320, 160)));
    }

    #[test]
    fn pixel_limit_refuses_before_decoding() {
        let data = png(100, 100);
        assert!(matches!(
            thumbnail(&data, 5_000),
            Err(ImageError::TooManyPixels { .. })
        ));
        assert!(check_pixels(10_000, 10_000, 40_000_000).is_err());
        assert!(check_pixels(4_000, 4_000, 40_000_000).is_ok());
    }
}
