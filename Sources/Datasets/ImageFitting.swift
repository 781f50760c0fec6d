/// How an image of another aspect ratio becomes the space's square input.
public enum ImageFit: String, Codable, CaseIterable, Sendable {
    /// The largest centred crop of the input's aspect, then resized (torchvision's
    /// Resize + CenterCrop keeps the same content; the default).
    case crop
    /// Resized to fit inside, centred on black (letterboxing: nothing cut off).
    case pad
    /// Resized to the input size whatever the aspect.
    case stretch
}

/// An image made into a network input: channels converted, fitted to the size, NCHW planes.
/// Grey to RGB repeats the plane; RGB to grey is ITU-R 601 luma in PIL's fixed point (so
/// PIL's convert("L") gives the same bytes). Resampling is PIL's BILINEAR filter, which
/// widens with the reduction factor (antialiased): the same integer arithmetic, so
/// `img.convert(mode).crop(box).resize(size, Image.BILINEAR)` matches byte for byte.
public struct ImageFitter: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var fit: ImageFit

    public init(channels: Int, height: Int, width: Int, fit: ImageFit = .crop) {
        precondition(channels == 1 || channels == 3, "channels \(channels)")
        self.channels = channels; self.height = height; self.width = width; self.fit = fit
    }

    /// The record: `channels` planes of height x width bytes.
    public func record(_ image: DecodedImage) -> [UInt8] {
        let converted = Self.convert(image, to: channels)
        var out = [UInt8](repeating: 0, count: channels * height * width)
        switch fit {
        case .stretch:
            place(Self.resize(converted, width: width, height: height), into: &out, x: 0, y: 0)
        case .crop:
            let (x0, y0, w, h) = Self.centredCrop(width: image.width, height: image.height, aspect: (width, height))
            place(Self.resize(Self.crop(converted, x: x0, y: y0, width: w, height: h), width: width, height: height), into: &out, x: 0, y: 0)
        case .pad:
            // The scale that fits the whole image: the output side of the tighter dimension is exact.
            let wide = image.width * height >= image.height * width
            let w = wide ? width : max(1, Int((Double(image.width) * Double(height) / Double(image.height)).rounded()))
            let h = wide ? max(1, Int((Double(image.height) * Double(width) / Double(image.width)).rounded())) : height
            place(Self.resize(converted, width: w, height: h), into: &out, x: (width - w) / 2, y: (height - h) / 2)
        }
        return out
    }

    /// Writes interleaved `image` as planes at (x, y) of the output.
    func place(_ image: DecodedImage, into out: inout [UInt8], x: Int, y: Int) {
        let c = image.channels, plane = height * width
        for yy in 0..<image.height {
            for xx in 0..<image.width {
                for k in 0..<c { out[k * plane + (y + yy) * width + x + xx] = image.pixels[(yy * image.width + xx) * c + k] }
            }
        }
    }

    static func convert(_ image: DecodedImage, to channels: Int) -> DecodedImage {
        if image.channels == channels { return image }
        let n = image.width * image.height
        if channels == 3 {
            var out = [UInt8](repeating: 0, count: n * 3)
            for p in 0..<n { let v = image.pixels[p]; out[3 * p] = v; out[3 * p + 1] = v; out[3 * p + 2] = v }
            return DecodedImage(width: image.width, height: image.height, channels: 3, pixels: out)
        }
        var out = [UInt8](repeating: 0, count: n)
        for p in 0..<n {
            let r = Int(image.pixels[3 * p]), g = Int(image.pixels[3 * p + 1]), b = Int(image.pixels[3 * p + 2])
            out[p] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
        }
        return DecodedImage(width: image.width, height: image.height, channels: 1, pixels: out)
    }

    /// The largest rectangle of aspect `aspect` (width, height) centred in the image.
    static func centredCrop(width: Int, height: Int, aspect: (Int, Int)) -> (x: Int, y: Int, width: Int, height: Int) {
        if width * aspect.1 > height * aspect.0 {
            let w = max(1, Int((Double(height) * Double(aspect.0) / Double(aspect.1)).rounded()))
            return ((width - w) / 2, 0, w, height)
        }
        let h = max(1, Int((Double(width) * Double(aspect.1) / Double(aspect.0)).rounded()))
        return (0, (height - h) / 2, width, h)
    }

    static func crop(_ image: DecodedImage, x: Int, y: Int, width: Int, height: Int) -> DecodedImage {
        if x == 0 && y == 0 && width == image.width && height == image.height { return image }
        let c = image.channels
        var out = [UInt8]()
        out.reserveCapacity(width * height * c)
        for yy in y..<(y + height) {
            let start = (yy * image.width + x) * c
            out.append(contentsOf: image.pixels[start..<(start + width * c)])
        }
        return DecodedImage(width: width, height: height, channels: c, pixels: out)
    }

    /// PIL's two-pass resample (horizontal, then vertical; 8-bit between the passes).
    public static func resize(_ image: DecodedImage, width: Int, height: Int) -> DecodedImage {
        var current = image
        if width != image.width {
            let (bounds, k) = coefficients(input: image.width, output: width)
            current = pass(current, horizontal: true, output: width, bounds: bounds, weights: k)
        }
        if height != image.height {
            let (bounds, k) = coefficients(input: image.height, output: height)
            current = pass(current, horizontal: false, output: height, bounds: bounds, weights: k)
        }
        return current
    }

    static let precisionBits = 22

    /// Per output position: the first input and the tap count, and the taps in fixed point.
    static func coefficients(input: Int, output: Int) -> (bounds: [(Int, Int)], weights: [[Int]]) {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale, reciprocal = 1 / filterScale
        var bounds: [(Int, Int)] = [], weights: [[Int]] = []
        for i in 0..<output {
            let centre = (Double(i) + 0.5) * scale
            let lo = max(Int(centre - support + 0.5), 0)
            let hi = min(Int(centre + support + 0.5), input)
            var k = (lo..<hi).map { x -> Double in
                let t = abs((Double(x) - centre + 0.5) * reciprocal)
                return t < 1 ? 1 - t : 0
            }
            let total = k.reduce(0, +)
            if total != 0 { k = k.map { $0 / total } }
            let one = Double(1 << precisionBits)
            weights.append(k.map { $0 < 0 ? Int(-0.5 + $0 * one) : Int(0.5 + $0 * one) })
            bounds.append((lo, hi - lo))
        }
        return (bounds, weights)
    }

    static func pass(_ image: DecodedImage, horizontal: Bool, output: Int, bounds: [(Int, Int)], weights: [[Int]]) -> DecodedImage {
        let c = image.channels
        let outW = horizontal ? output : image.width, outH = horizontal ? image.height : output
        var out = [UInt8](repeating: 0, count: outW * outH * c)
        let half = 1 << (precisionBits - 1)
        for y in 0..<outH {
            for x in 0..<outW {
                let (first, taps) = bounds[horizontal ? x : y]
                let k = weights[horizontal ? x : y]
                for ch in 0..<c {
                    var sum = half
                    for t in 0..<taps {
                        let sx = horizontal ? first + t : x, sy = horizontal ? y : first + t
                        sum += Int(image.pixels[(sy * image.width + sx) * c + ch]) * k[t]
                    }
                    out[(y * outW + x) * c + ch] = UInt8(clamping: sum >> precisionBits)
                }
            }
        }
        return DecodedImage(width: outW, height: outH, channels: c, pixels: out)
    }
}
