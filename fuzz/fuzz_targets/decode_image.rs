//! The image input path of `predict`, `features` and `detect`: arbitrary bytes decoded as a JPEG
//! or PNG (with tchvision's size limits), then torchvision's ImageNet preprocessing (resize,
//! center crop, normalise) at a small size: `Ok` or `Err`, never a panic or an allocation past
//! the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tchvision::imageio::{decode_rgb, Preprocess};

fuzz_target!(|data: &[u8]| {
    let Ok(img) = decode_rgb(data) else { return };
    let s = img.size();
    assert_eq!(s.len(), 3);
    assert_eq!(s[0], 3);
    // Small sizes keep each run fast; the code path is the same as at 256/224.
    if let Ok(x) = Preprocess::imagenet(24, 16).apply(&img) {
        assert_eq!(x.size(), [3, 16, 16]);
    }
});
