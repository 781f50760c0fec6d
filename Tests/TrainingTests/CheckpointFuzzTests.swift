import Foundation
import Networks
import Runs
import Testing
import Training
import _TestSupport

/// Mutated checkpoints — damaged bytes, and crafted headers under a valid checksum (huge or
/// negative offsets, steps, sizes): a typed `RunError` and an unchanged run, or a state
/// that loads — never a trap.
@Suite struct CheckpointFuzzTests {
    @Test func mutatedCheckpoints() throws {
        var fuzz = Fuzzer(salt: 9, defaultCases: 200)
        let t = try tinyTraining()
        for _ in 0..<3 { _ = try t.trainStep() }
        let good = try t.checkpoint()
        let (headerData, payload) = try CheckpointFile.decode(good, path: "good.bin")
        let headerText = String(decoding: headerData, as: UTF8.self)
        let target = try tinyTraining()
        let before = stateSnapshot(target)
        var loaded = 0
        for i in 0..<fuzz.cases {
            let data: Data
            if i % 2 == 0 {
                data = Data(fuzz.mutate(bytes: [UInt8](good), headerBytes: 40))
            } else {
                data = CheckpointFile.encode(header: Data(fuzz.mutate(text: headerText).utf8), payload: payload)
            }
            do {
                try target.restore(from: data, path: "fuzz.bin")
                loaded += 1
                #expect(target.stateIsFinite)
                // Put the untouched state back for the next case.
                try target.restore(from: try tinyTraining().checkpoint(), path: "fresh.bin")
            } catch is RunError {
                #expect(stateSnapshot(target) == before, "a refused checkpoint changed the run")
            }
        }
        #expect(loaded < fuzz.cases)
    }

    @Test func nonFiniteOrImpossibleStatesAreRefused() throws {
        let t = try tinyTraining()
        for _ in 0..<2 { _ = try t.trainStep() }
        let good = try t.checkpoint()
        let (headerData, payload) = try CheckpointFile.decode(good, path: "good.bin")
        // A NaN weight under a valid checksum.
        var poisoned = [UInt8](payload)
        poisoned.replaceSubrange(0..<4, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) })
        let nanFile = CheckpointFile.encode(header: headerData, payload: Data(poisoned))
        #expect(throws: RunError.self) { try (try tinyTraining()).restore(from: nanFile, path: "nan.bin") }
        let message = (try? (try tinyTraining()).restore(from: nanFile, path: "nan.bin")).map { "loaded" } ?? "refused"
        #expect(message == "refused")
        // A negative step.
        let header = String(decoding: headerData, as: UTF8.self).replacingOccurrences(of: "\"step\":2", with: "\"step\":-5")
        #expect(header.contains("-5"))
        let negative = CheckpointFile.encode(header: Data(header.utf8), payload: payload)
        #expect(throws: RunError.self) { try (try tinyTraining()).restore(from: negative, path: "negative.bin") }
        // An epoch that disagrees with the step (2^62 would resume past the end and train
        // nothing; 1 is a finished epoch at a step inside the first), under a valid checksum.
        let text = String(decoding: headerData, as: UTF8.self)
        #expect(text.contains("\"epoch\":0,"))
        for epoch in ["4611686018427387904", "1", "-1"] {
            let bad = CheckpointFile.encode(header: Data(text.replacingOccurrences(of: "\"epoch\":0,", with: "\"epoch\":\(epoch),").utf8), payload: payload)
            let target = try tinyTraining()
            let before = stateSnapshot(target)
            #expect(throws: RunError.self, "epoch \(epoch)") { try target.restore(from: bad, path: "epoch.bin") }
            #expect(stateSnapshot(target) == before)
        }
        // The unchanged header still loads.
        try (try tinyTraining()).restore(from: good, path: "good.bin")
        // Writing a diverged state is refused too.
        t.network.parameters[0].value[0] = .infinity
        #expect(throws: TrainingError.nonFinite(step: 2)) { _ = try t.checkpoint() }
    }
}
