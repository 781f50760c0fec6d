import Datasets
import Foundation
import TensorCore
import Testing
import _TestSupport

@Suite struct IDXTests {
    @Test func readsRawAndGzip() throws {
        let dir = TemporaryDirectory("data")
        defer { withExtendedLifetime(dir) {} }
        let img = dir.file("img", idxImages(count: 5).encoded())
        let lab = dir.file("lab", idxLabels([0, 1, 2, 9, 3]).encoded())
        let raw = try Dataset.loadIDX(images: img, labels: lab)
        #expect(raw.count == 5 && raw.height == 4 && raw.width == 3 && raw.labels == [0, 1, 2, 9, 3])
        #expect(raw.pixelBytes == (0..<60).map { UInt8($0 % 251) })
        let gz = try Dataset.loadIDX(images: dir.gzip(img), labels: dir.gzip(lab))
        #expect(gz.pixelBytes == raw.pixelBytes && gz.labels == raw.labels)
    }

    @Test func badFilesGiveOneLineErrorsNamingTheFile() {
        let dir = TemporaryDirectory("data")
        defer { withExtendedLifetime(dir) {} }
        let good = idxImages(count: 5).encoded()
        let img = dir.file("img", good)
        let lab = dir.file("lab", idxLabels([0, 1, 2, 3, 4]).encoded())
        // Truncated payload.
        let cut = dir.file("cut", Array(good.dropLast(7)))
        var m = message { _ = try Dataset.loadIDX(images: cut, labels: lab) }
        #expect(m.contains(cut) && m.contains("truncated") && m.contains("expected \(good.count) bytes"), "\(m)")
        // Truncated gzip stream.
        let gz = try! Data(contentsOf: URL(fileURLWithPath: dir.gzip(img)))
        let cutGz = dir.file("cut.gz", Array(gz.prefix(gz.count - 12)))
        m = message { _ = try Dataset.loadIDX(images: cutGz, labels: lab) }
        #expect(m.contains(cutGz) && (m.contains("gzip") || m.contains("truncated")), "\(m)")
        // Wrong magic (a label file given as images).
        m = message { _ = try Dataset.loadIDX(images: lab, labels: lab) }
        #expect(m.contains(lab) && m.contains("magic") && m.contains("0x00000803"), "\(m)")
        // Count mismatch.
        let lab4 = dir.file("lab4", idxLabels([0, 1, 2, 3]).encoded())
        m = message { _ = try Dataset.loadIDX(images: img, labels: lab4) }
        #expect(m.contains(lab4) && m.contains("4 labels") && m.contains("5 images"), "\(m)")
        // Missing file.
        m = message { _ = try Dataset.loadIDX(images: dir.path + "/nope", labels: lab) }
        #expect(m == "\(dir.path)/nope: file not found")
        // Label outside the classes.
        let bad = dir.file("bad", idxLabels([0, 1, 2, 3, 12]).encoded())
        m = message { _ = try Dataset.loadIDX(images: img, labels: bad) }
        #expect(m.contains(bad) && m.contains("label 12"), "\(m)")
        #expect(!m.contains("\n"))
    }

    @Test func directoryLoaderFindsStandardNames() throws {
        let dir = TemporaryDirectory("data")
        defer { withExtendedLifetime(dir) {} }
        _ = dir.gzip(dir.file("train-images-idx3-ubyte", idxImages(count: 6, h: 28, w: 28).encoded()))
        _ = dir.gzip(dir.file("train-labels-idx1-ubyte", idxLabels([1, 2, 3, 4, 5, 6]).encoded()))
        _ = dir.file("t10k-images-idx3-ubyte", idxImages(count: 2, h: 28, w: 28).encoded())
        _ = dir.file("t10k-labels-idx1-ubyte", idxLabels([7, 8]).encoded())
        let (train, test) = try DataSource(parsing: "mnist:" + dir.path).load()
        #expect(train.count == 6 && test.count == 2 && test.labels == [7, 8])
        #expect(message { _ = try DataSource(parsing: "imagenet") }.contains("unknown data source"))
        let m = message { _ = try DataSource(parsing: "fashion-mnist:" + dir.path + "/missing").load() }
        #expect(m.contains("missing/train-images-idx3-ubyte.gz: file not found"), "\(m)")
    }
}
