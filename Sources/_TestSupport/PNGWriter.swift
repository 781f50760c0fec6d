/// Minimal PNG files for test fixtures (8-bit grey or RGB, stored deflate blocks, no
/// filtering): libpng reading them back is the check. Test images only; Pare itself never
/// writes PNG.
public enum PNGWriter {
    /// `pixels`: height rows of width * channels bytes (channels 1 or 3).
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(pixels.count == width * height * channels && (channels == 1 || channels == 3))
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)  // filter: none
            raw += pixels[(y * width * channels)..<((y + 1) * width * channels)]
        }
        var z: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65_535, raw.count - offset)
            let final: UInt8 = offset + n == raw.count ? 1 : 0
            z += [final, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
            z += raw[offset..<(offset + n)]
            offset += n
        } while offset < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for v in raw { a = (a + UInt32(v)) % 65_521; b = (b + a) % 65_521 }
        z += be32(b << 16 | a)
        let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [8, channels == 3 ? 2 : 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", [])
    }

    /// A PNG of a few dozen bytes whose header claims width x height grey pixels.
    public static func headerBomb(width: UInt32, height: UInt32) -> [UInt8] {
        let ihdr = be32(width) + be32(height) + [8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
            + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
    }

    public static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }
}

extension TemporaryDirectory {
    /// An image folder: `classes` class folders of `perClass` grey PNGs (`size` x `size`), each
    /// image's pixels a function of its class and index; returns the folder's path.
    @discardableResult
    public func imageFolder(_ name: String, classes: [String], perClass: Int, size: Int, channels: Int = 1, salt: Int = 0) -> String {
        for (c, cls) in classes.enumerated() {
            for i in 0..<perClass {
                let px = (0..<(size * size * channels)).map { UInt8((($0 * 7 + i * 13 + c * 61 + salt) % 256)) }
                file("\(name)/\(cls)/img\(String(format: "%03d", i)).png", PNGWriter.encode(width: size, height: size, channels: channels, pixels: px))
            }
        }
        return file(name)
    }
}
