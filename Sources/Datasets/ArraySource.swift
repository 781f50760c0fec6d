import Foundation

/// NumPy arrays as datasets: what Python users already have in memory, saved with
/// `np.savez(FILE, x_train=..., y_train=..., x_test=..., y_test=...)` (optionally `x_val`,
/// `y_val`) or as .npy pairs. Images uint8, float32 or float64 ([0, 1] is scaled by 255;
/// [0, 255] is taken as is), (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1, 3 or 4 (alpha
/// dropped; NCHW when the second axis is 1 or 3 and the last is not); labels integers 0..<classes, (N) or (N, 1). Images are fitted to the space's
/// input like an image folder's.
public enum ArraySource {
    public struct Split {
        public var images: NumPyArray
        public var labels: NumPyArray
        public var name: String
    }

    /// (train, validation, test) of a .npz archive.
    public static func splits(npz path: String) throws -> (Split, Split?, Split?) {
        let arrays = try NPZ.read(path)
        func pair(_ x: String, _ y: String) throws -> Split? {
            switch (arrays[x], arrays[y]) {
            case let (i?, l?): return Split(images: i, labels: l, name: "\(path):\(x)")
            case (nil, nil): return nil
            default: throw DataError.badArray(path: path, reason: "holds \(arrays[x] == nil ? y : x) without \(arrays[x] == nil ? x : y)")
            }
        }
        guard let train = try pair("x_train", "y_train") ?? pair("images", "labels") else {
            throw DataError.badArray(path: path, reason: "no x_train / y_train (or images / labels) arrays")
        }
        return (train, try pair("x_val", "y_val"), try pair("x_test", "y_test"))
    }

    /// The records of `split` fitted by `fitter`, labels checked against `classes`.
    public static func dataset(_ split: Split, fitter: ImageFitter, classes: Int) throws -> Dataset {
        let x = split.images, y = split.labels
        func bad(_ reason: String) -> DataError { .badArray(path: split.name, reason: reason) }
        let n = x.shape.first ?? 0
        guard n > 0 else { throw bad("no images (shape \(x.shape))") }
        let (h, w, c, planar): (Int, Int, Int, Bool)
        switch x.shape.count {
        case 3: (h, w, c, planar) = (x.shape[1], x.shape[2], 1, false)
        // (N, 3, H, 4) is NCHW; (N, H, W, 3) NHWC; planar only when the last axis cannot be channels.
        case 4 where [1, 3].contains(x.shape[1]) && ![1, 3].contains(x.shape[3]):
            (h, w, c, planar) = (x.shape[2], x.shape[3], x.shape[1], true)
        case 4 where [1, 3, 4].contains(x.shape[3]): (h, w, c, planar) = (x.shape[1], x.shape[2], x.shape[3], false)
        case 4 where [1, 3, 4].contains(x.shape[1]): (h, w, c, planar) = (x.shape[2], x.shape[3], x.shape[1], true)
        default: throw bad("images of shape \(x.shape) (expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1, 3 or 4)")
        }
        guard h > 0, w > 0, h <= ImageDecoder.maxSide, w <= ImageDecoder.maxSide else { throw bad("images of \(h) x \(w) pixels") }
        guard y.shape == [n] || y.shape == [n, 1] else { throw bad("labels of shape \(y.shape) for \(n) images (expected (\(n),))") }
        guard !y.dtype.isFloat || (0..<n).allSatisfy({ y.value($0).rounded() == y.value($0) }) else { throw bad("labels are not whole numbers") }
        var labels = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let v = y.value(i)
            guard v >= 0, v < Double(classes) else { throw bad("label \(v) of image \(i) outside 0..<\(classes)") }
            labels[i] = Int32(v)
        }
        // Floats: [0, 1] (ToTensor's range) is scaled to bytes; [0, 255] is already bytes.
        var scale = 1.0
        if x.dtype.isFloat {
            var lo = Double.infinity, hi = -Double.infinity
            var finite = true
            for i in 0..<x.count { let v = x.value(i); finite = finite && v.isFinite; lo = min(lo, v); hi = max(hi, v) }
            guard finite else { throw bad("float pixels include NaN or infinity") }
            guard lo >= 0, hi <= 255 else { throw bad("float pixels span \(lo)...\(hi) (expected 0...1 or 0...255)") }
            scale = hi <= 1 ? 255 : 1
        } else if x.dtype != .uint8 {
            throw bad("images of dtype \(x.dtype.rawValue) (expected uint8, float32 or float64)")
        }
        let kept = c == 4 ? 3 : c
        var pixels = [UInt8]()
        pixels.reserveCapacity(n * fitter.channels * fitter.height * fitter.width)
        var image = [UInt8](repeating: 0, count: h * w * kept)
        for i in 0..<n {
            for yy in 0..<h {
                for xx in 0..<w {
                    for k in 0..<kept {
                        let at = planar ? ((i * c + k) * h + yy) * w + xx : ((i * h + yy) * w + xx) * c + k
                        image[(yy * w + xx) * kept + k] = x.dtype == .uint8 ? x.bytes[at] : UInt8((x.value(at) * scale).rounded())
                    }
                }
            }
            pixels += fitter.record(DecodedImage(width: w, height: h, channels: kept, pixels: image))
        }
        var d = Dataset(name: "npz", channels: fitter.channels, height: fitter.height, width: fitter.width, classes: classes,
                        pixels: pixels, labels: labels)
        d.holdout = .stratified(seed: 0)
        return d
    }

    /// The number of classes the label arrays need: one more than their largest label.
    public static func classes(_ splits: [Split]) throws -> Int {
        var top = -1.0
        for s in splits { for i in 0..<s.labels.count { top = max(top, s.labels.value(i)) } }
        guard top >= 1, top < 65_536 else {
            throw DataError.badArray(path: splits[0].name, reason: top < 1 ? "labels of one class only (a classifier needs at least two)" : "label \(top) (expected at most 65535)")
        }
        return Int(top) + 1
    }
}
