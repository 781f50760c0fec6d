import Datasets
import Foundation
import Testing
import _TestSupport

/// .npz and .npy files written by NumPy itself (stored and deflated, every layout and dtype
/// Pare accepts): the same pixels and labels whatever the layout; damaged archives are a
/// typed error, never a trap.
@Suite struct NumPyTests {
    static let script = """
        import sys
        import numpy as np
        out = sys.argv[1]
        rng = np.random.default_rng(3)
        x = rng.integers(0, 256, (10, 3, 5, 4), dtype=np.uint8)      # NCHW
        y = np.arange(10) % 3
        np.savez(f"{out}/nchw.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
        np.savez_compressed(f"{out}/nhwc.npz", x_train=x.transpose(0, 2, 3, 1), y_train=y.astype(np.int32))
        np.savez(f"{out}/float.npz", x_train=(x.astype(np.float32) / 255), y_train=y.astype(np.uint8).reshape(-1, 1))
        np.savez(f"{out}/float255.npz", images=x.astype(np.float64), labels=y)
        np.save(f"{out}/x.npy", x[:, 0]); np.save(f"{out}/y.npy", y)
        np.savez(f"{out}/bad-range.npz", x_train=x.astype(np.float32) * 2 - 1, y_train=y)
        np.savez(f"{out}/one-class.npz", x_train=x, y_train=np.zeros(10, dtype=np.int64))
        np.savez(f"{out}/no-train.npz", a=x)
        f = x.astype(np.float32) / 255; f[3, 1, 2, 2] = np.nan
        np.savez(f"{out}/nan.npz", x_train=f, y_train=y)
        """

    static func fixtures() throws -> TemporaryDirectory? {
        guard let python = testPython() else {
            Issue.record("no Python with numpy: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return nil
        }
        let dir = TemporaryDirectory("npz")
        let r = try runProgram(python, [dir.file("make.py", Array(script.utf8)), dir.path])
        #expect(r.status == 0, "\(r.output)")
        return r.status == 0 ? dir : nil
    }

    @Test func everyLayoutAndDtypeGivesTheSamePixels() throws {
        guard let dir = try Self.fixtures() else { return }
        let reference = try DataSource.npz(path: dir.file("nchw.npz")).open(channels: 3, size: 5, options: ImageOptions(fit: .stretch))
        #expect(reference.train.count == 10 && reference.test?.count == 4 && reference.train.classes == 3)
        #expect(reference.train.labels == (0..<10).map { Int32($0 % 3) })
        for name in ["nhwc.npz", "float.npz", "float255.npz"] {
            let other = try DataSource.npz(path: dir.file(name)).open(channels: 3, size: 5, options: ImageOptions(fit: .stretch))
            #expect(other.train.pixelBytes == reference.train.pixelBytes && other.train.labels == reference.train.labels, "\(name)")
        }
        // The first channel as (N, H, W) .npy: the grey records are that plane, stretched 4 -> 5 wide.
        let grey = try DataSource(parsing: "npy:\(dir.file("x.npy")),\(dir.file("y.npy"))").open(channels: 1, size: 5, options: ImageOptions(fit: .stretch))
        let plane = (0..<10).flatMap { Array(reference.train.record($0)[0..<25]) }
        #expect(grey.train.pixelBytes == plane)
    }

    @Test func badArraysAreOneLineNamingTheFile() throws {
        guard let dir = try Self.fixtures() else { return }
        for (name, text) in [("bad-range.npz", "float pixels span -1.0"), ("one-class.npz", "one class only"), ("no-train.npz", "no x_train"), ("nan.npz", "NaN")] {
            #expect { try DataSource.npz(path: dir.file(name)).open(channels: 3, size: 5) } throws: { "\($0)".contains(text) && "\($0)".contains(name) }
        }
        // Labels above the space's classes are refused; fewer classes than the space's are fine.
        #expect { try DataSource.npz(path: dir.file("nchw.npz")).open(channels: 3, size: 5, classes: 2) } throws: { "\($0)".contains("set `classes: 3`") }
        #expect(try DataSource.npz(path: dir.file("nchw.npz")).open(channels: 3, size: 5, classes: 10).train.classes == 10)
    }

    @Test func mutatedArchivesFailCleanly() throws {
        guard let dir = try Self.fixtures() else { return }
        var fuzz = Fuzzer(salt: 43, defaultCases: 300)
        let goods = ["nchw.npz", "nhwc.npz", "x.npy"].map { [UInt8](FileManager.default.contents(atPath: dir.file($0))!) }
        var failed = 0
        for i in 0..<fuzz.cases {
            let k = fuzz.int(below: goods.count), good = goods[k]
            let bytes = fuzz.int(below: 4) == 0 ? Array(good.prefix(fuzz.int(below: good.count))) : fuzz.mutate(bytes: good, headerBytes: 160)
            let path = dir.file("m\(i)" + (k == 2 ? ".npy" : ".npz"), bytes)
            do {
                if k == 2 { _ = try NumPyArray.parse([UInt8](FileManager.default.contents(atPath: path)!), path: path) } else { _ = try NPZ.read(path) }
            } catch is DataError { failed += 1 }
        }
        #expect(failed > 0)
    }
}
