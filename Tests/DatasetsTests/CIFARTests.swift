import Datasets
import Foundation
import TensorCore
import Testing
import _TestSupport

@Suite struct CIFARTests {
    func record(label: UInt8, seed: Int) -> [UInt8] { [label] + (0..<3072).map { UInt8(($0 * 7 + seed) % 256) } }

    @Test func readsRecordsAndRejectsTruncation() throws {
        let dir = TemporaryDirectory("data")
        defer { withExtendedLifetime(dir) {} }
        let f1 = dir.file("a.bin", record(label: 3, seed: 1) + record(label: 9, seed: 2))
        let f2 = dir.file("b.bin", record(label: 0, seed: 3))
        let d = try Dataset.loadCIFAR10(files: [f1, f2])
        #expect(d.count == 3 && d.labels == [3, 9, 0] && d.channels == 3 && d.height == 32)
        // Planes stay R, G, B: pixel (c, y, x) of record 1 is byte 1 + c*1024 + y*32 + x of its record.
        #expect(d.pixelBytes[3072 + 1024 + 5] == UInt8(((1024 + 5) * 7 + 2) % 256))
        let cut = dir.file("cut.bin", Array(record(label: 1, seed: 0).dropLast(100)))
        let m = message { _ = try Dataset.loadCIFAR10(files: [cut]) }
        #expect(m.contains(cut) && m.contains("truncated") && m.contains("3073"), "\(m)")
        let badLabel = dir.file("lab.bin", record(label: 10, seed: 0))
        #expect(message { _ = try Dataset.loadCIFAR10(files: [badLabel]) }.contains("label 10"))
    }
}
