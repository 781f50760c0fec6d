import Foundation
import Spaces
import Testing
import _TestSupport

/// Mutated space files, stored spaces and architecture texts: every input ends in a typed
/// error or a valid space / architecture — never a trap — and quickly.
@Suite struct SpaceFuzzTests {
    final class Draws: RandomSource {
        var fuzz: Fuzzer
        init(_ f: Fuzzer) { fuzz = f }
        func int(below n: Int) -> Int { fuzz.int(below: n) }
    }

    /// Uses a parsed space the way the engine would: slots, costs, random candidates.
    func exercise(_ space: SearchSpace, _ fuzz: Fuzzer) {
        _ = space.blocks
        _ = space.cost(space.largest)
        _ = space.cost(space.smallest)
        let draws = Draws(fuzz)
        for _ in 0..<3 { _ = space.cost(space.randomArchitecture(draws)) }
    }

    @Test func mutatedSpaceFiles() throws {
        var fuzz = Fuzzer(salt: 1)
        let texts = try ["fmnist-shufflenet", "fmnist-mobilenetv2", "cifar10-shufflenet"].map {
            try String(contentsOfFile: repositoryFile("search-spaces/\($0).yaml"), encoding: .utf8)
        }
        var valid = 0, slowest = 0.0
        for i in 0..<fuzz.cases {
            let text = fuzz.mutate(text: texts[i % texts.count])
            let (space, seconds) = timed { () -> SearchSpace? in
                do { return try SpaceFile.parse(text, file: "fuzz.yaml") } catch is SpaceFileError { return nil } catch {
                    Issue.record("untyped error \(error) for:\n\(text.prefix(400))")
                    return nil
                }
            }
            slowest = max(slowest, seconds)
            if let space {
                valid += 1
                #expect(throws: Never.self) { try space.validate(file: "fuzz.yaml") }
                exercise(space, fuzz)
            }
        }
        #expect(slowest < 2, "a parse took \(slowest) s (seed \(fuzz.seed))")
        #expect(valid > 0 && valid < fuzz.cases, "\(valid) of \(fuzz.cases) mutated files parsed: the mutations must hit both sides")
    }

    @Test func mutatedStoredSpaces() throws {
        var fuzz = Fuzzer(salt: 2)
        let space = try SpaceFile.load(repositoryFile("search-spaces/fmnist-mobilenetv2.yaml"))
        let json = String(decoding: try JSONEncoder().encode(space), as: UTF8.self)
        for _ in 0..<fuzz.cases {
            let text = fuzz.mutate(text: json)
            do {
                let decoded = try JSONDecoder().decode(SearchSpace.self, from: Data(text.utf8))
                try decoded.validate(file: "stored")
                exercise(decoded, fuzz)
            } catch is DecodingError {
            } catch {
                Issue.record("untyped error \(error) for \(text.prefix(300))")
            }
        }
    }

    @Test func mutatedArchitectureTexts() throws {
        var fuzz = Fuzzer(salt: 3)
        let space = try SpaceFile.load(repositoryFile("search-spaces/fmnist-shufflenet.yaml"))
        let draws = Draws(fuzz)
        var valid = 0
        for _ in 0..<fuzz.cases {
            let text = fuzz.mutate(text: space.randomArchitecture(draws).description)
            do {
                let arch = try Architecture(parsing: text, space: space)
                _ = space.cost(arch)
                valid += 1
            } catch let e as ArchitectureError {
                #expect("\(e)".count < 400, "error line of \("\(e)".count) characters")
            }
        }
        #expect(valid < fuzz.cases)
        // Huge texts are refused by their size, not parsed piece by piece.
        let huge = "32/64/128:" + Array(repeating: "shuffle3@1.0", count: 200_000).joined(separator: ",")
        let (_, seconds) = timed { try? Architecture(parsing: huge, space: space) }
        #expect(seconds < 1)
    }
}
