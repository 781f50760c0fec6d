import Datasets
import Foundation
import Testing
import _TestSupport

/// Images written (and decoded, and resized) by Pillow, a tool nobody here wrote: our PNG
/// decode must give its pixels exactly, our JPEG decode within the codec's error, and our
/// fitting its BILINEAR resize byte for byte.
@Suite struct ImageDecodingTests {
    static let fixtureScript = """
        import sys
        import numpy as np
        from PIL import Image
        out = sys.argv[1]
        rng = np.random.default_rng(7)
        def raw(name, a): np.ascontiguousarray(a, dtype=np.uint8).tofile(f"{out}/{name}.raw")
        g = rng.integers(0, 256, (13, 17), dtype=np.uint8)
        Image.fromarray(g, "L").save(f"{out}/grey.png"); raw("grey.png", g)
        rgb = rng.integers(0, 256, (11, 9, 3), dtype=np.uint8)
        Image.fromarray(rgb, "RGB").save(f"{out}/rgb.png"); raw("rgb.png", rgb)
        rgba = rng.integers(0, 256, (7, 5, 4), dtype=np.uint8)
        Image.fromarray(rgba, "RGBA").save(f"{out}/rgba.png"); raw("rgba.png", rgba[..., :3])
        pal = Image.fromarray(rgb, "RGB").quantize(16)
        pal.save(f"{out}/palette.png"); raw("palette.png", np.asarray(pal.convert("RGB")))
        y, x = np.mgrid[0:24, 0:32]
        smooth = np.stack([x * 7, y * 9, (x + y) * 4], axis=-1).clip(0, 255).astype(np.uint8)
        Image.fromarray(smooth, "RGB").save(f"{out}/rgb.jpg", quality=95); raw("rgb.jpg.src", smooth)
        raw("rgb.jpg", np.asarray(Image.open(f"{out}/rgb.jpg").convert("RGB")))
        Image.fromarray(smooth[..., 0], "L").save(f"{out}/grey.jpg", quality=95); raw("grey.jpg.src", smooth[..., 0])
        raw("grey.jpg", np.asarray(Image.open(f"{out}/grey.jpg").convert("L")))
        src = Image.fromarray(rng.integers(0, 256, (23, 37, 3), dtype=np.uint8), "RGB")
        src.save(f"{out}/resize.png")
        for mode in ("RGB", "L"):
            im = src.convert(mode)
            raw(f"stretch-{mode}", np.asarray(im.resize((16, 16), Image.BILINEAR)))
            raw(f"stretch-up-{mode}", np.asarray(im.resize((50, 60), Image.BILINEAR)))
            raw(f"crop-{mode}", np.asarray(im.crop((7, 0, 30, 23)).resize((16, 16), Image.BILINEAR)))
            canvas = Image.new(mode, (16, 16)); canvas.paste(im.resize((16, 10), Image.BILINEAR), (0, 3))
            raw(f"pad-{mode}", np.asarray(canvas))
        """

    static func fixtures() throws -> TemporaryDirectory? {
        guard let python = testPython() else {
            Issue.record("no Python with Pillow: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return nil
        }
        let dir = TemporaryDirectory("images")
        let script = dir.file("make.py", Array(fixtureScript.utf8))
        let r = try runProgram(python, [script, dir.path])
        #expect(r.status == 0, "\(r.output)")
        return r.status == 0 ? dir : nil
    }

    static func bytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

    @Test func pngOfEveryKindDecodesToPillowsPixels() throws {
        guard let dir = try Self.fixtures() else { return }
        for (name, w, h, c) in [("grey.png", 17, 13, 1), ("rgb.png", 9, 11, 3), ("rgba.png", 5, 7, 3), ("palette.png", 9, 11, 3)] {
            let image = try ImageDecoder.decode(Self.bytes(dir.file(name)), path: name)
            #expect(image.width == w && image.height == h && image.channels == c, "\(name): \(image.width)x\(image.height)x\(image.channels)")
            #expect(image.pixels == Self.bytes(dir.file(name + ".raw")), "\(name)")
        }
    }

    @Test func jpegDecodesWithinTheCodecsError() throws {
        guard let dir = try Self.fixtures() else { return }
        for (name, c) in [("rgb.jpg", 3), ("grey.jpg", 1)] {
            let image = try ImageDecoder.decode(Self.bytes(dir.file(name)), path: name)
            #expect(image.width == 32 && image.height == 24 && image.channels == c)
            let pillow = Self.bytes(dir.file(name + ".raw")), source = Self.bytes(dir.file(name + ".src.raw"))
            let vsPillow = zip(image.pixels, pillow).map { abs(Int($0) - Int($1)) }.max() ?? 99
            let meanError = Double(zip(image.pixels, source).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(source.count)
            #expect(pillow.count == image.pixels.count && vsPillow <= 1, "\(name): differs from Pillow's decode by up to \(vsPillow)")
            #expect(meanError < 2.5, "\(name): mean error \(meanError) against the encoded pixels at quality 95")
        }
    }

    @Test func fittingMatchesPillowsBilinearResize() throws {
        guard let dir = try Self.fixtures() else { return }
        let src = try ImageDecoder.decode(Self.bytes(dir.file("resize.png")), path: "resize.png")
        func interleaved(_ planes: [UInt8], _ c: Int, _ h: Int, _ w: Int) -> [UInt8] {
            (0..<(h * w * c)).map { i in planes[(i % c) * h * w + i / c] }
        }
        for (mode, c) in [("RGB", 3), ("L", 1)] {
            for (fit, name, w, h) in [(ImageFit.stretch, "stretch", 16, 16), (.stretch, "stretch-up", 50, 60), (.crop, "crop", 16, 16), (.pad, "pad", 16, 16)] {
                let ours = interleaved(ImageFitter(channels: c, height: h, width: w, fit: fit).record(src), c, h, w)
                let pillow = Self.bytes(dir.file("\(name)-\(mode).raw"))
                let differing = zip(ours, pillow).filter { $0 != $1 }.count
                #expect(ours.count == pillow.count && differing == 0, "\(name) \(mode): \(differing) of \(pillow.count) bytes differ from Pillow's")
            }
        }
    }

    @Test func bilinearTapsOnAHandCheckedCase() {
        // 4 -> 2 pixels: the filter widens to 2 input pixels; taps 3/7, 3/7, 1/7 from each end.
        let row = DecodedImage(width: 4, height: 1, channels: 1, pixels: [0, 100, 200, 250])
        #expect(ImageFitter.resize(row, width: 2, height: 1).pixels == [71, 207])
        // Same size: untouched.
        #expect(ImageFitter.resize(row, width: 4, height: 1).pixels == row.pixels)
        // Grey to RGB repeats; RGB to grey is 601 luma in PIL's fixed point: 124.2 -> 124.
        let rgb = DecodedImage(width: 1, height: 1, channels: 3, pixels: [200, 100, 50])
        #expect(ImageFitter(channels: 1, height: 1, width: 1, fit: .stretch).record(rgb) == [124])
        #expect(ImageFitter(channels: 3, height: 1, width: 1, fit: .stretch).record(DecodedImage(width: 1, height: 1, channels: 1, pixels: [9])) == [9, 9, 9])
    }

    @Test func hugeHeadersAreRefusedBeforeAllocating() {
        let bomb = PNGWriter.headerBomb(width: 60_000, height: 60_000)
        #expect(bomb.count < 200)
        #expect {
            try ImageDecoder.decode(bomb, path: "bomb.png")
        } throws: { ($0 as? DataError)?.description.contains("60000 x 60000") == true }
        #expect(throws: DataError.self) { try ImageDecoder.decode(Array("hello".utf8), path: "notes.png") }
    }

    /// Mutated PNG and JPEG files: an image of the header's size or a typed error, never a trap.
    @Test func mutatedImagesDecodeOrFailCleanly() throws {
        guard let dir = try Self.fixtures() else { return }
        var fuzz = Fuzzer(salt: 41, defaultCases: 300)
        let goods = ["rgb.png", "palette.png", "rgba.png", "rgb.jpg", "grey.jpg"].map { Self.bytes(dir.file($0)) }
        var failed = 0
        for _ in 0..<fuzz.cases {
            let good = fuzz.pick(goods)
            let bytes = fuzz.int(below: 4) == 0 ? Array(good.prefix(fuzz.int(below: good.count))) : fuzz.mutate(bytes: good, headerBytes: 64)
            do {
                let image = try ImageDecoder.decode(bytes, path: "fuzz")
                #expect(image.pixels.count == image.width * image.height * image.channels && image.width <= ImageDecoder.maxSide)
            } catch is DataError { failed += 1 }
        }
        #expect(failed > 0)
    }
}
