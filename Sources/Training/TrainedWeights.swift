import Foundation
import Layers
import Networks
import Runs
import Spaces
import TensorCore

/// The JSON header of a training checkpoint (`TrainingRun.checkpoint()`): what the binary
/// payload holds and the position of everything that advances step by step.
struct CheckpointHeader: Codable {
    var format = "pare-supernet-training"
    var space: SearchSpace
    var step: Int
    var epoch: Int
    var epochOpen: Bool
    var loaderPosition: Int
    var sampler: ArchitectureSampler.State
    var hasVelocity: [Bool]
    var sections: [PayloadWriter.Section]

    /// The header and payload of checkpoint bytes, checked to be a training checkpoint of `space`.
    static func open(_ data: Data, path: String, space: SearchSpace) throws -> (CheckpointHeader, PayloadReader) {
        let (headerData, payload) = try CheckpointFile.decode(data, path: path)
        let header: CheckpointHeader
        do { header = try JSONDecoder().decode(CheckpointHeader.self, from: headerData) } catch {
            throw RunError.badCheckpoint(path: path, reason: "unreadable header")
        }
        guard header.format == "pare-supernet-training" else {
            throw RunError.badCheckpoint(path: path, reason: "a '\(header.format)' file, not a supernet training checkpoint")
        }
        guard header.space == space else {
            throw RunError.badCheckpoint(path: path, reason: "written for search space '\(header.space.name)' with a different definition")
        }
        guard header.step >= 0, header.epoch >= 0, header.loaderPosition >= 0, header.step <= 1 << 40 else {
            throw RunError.badCheckpoint(path: path, reason: "step \(header.step), epoch \(header.epoch): not a state training can reach")
        }
        return (header, try PayloadReader(data: payload, sections: header.sections, path: path))
    }
}

extension PayloadReader {
    /// Throws unless every parameter value and BN running statistic of `network` is present
    /// at its size, and finite (a diverged state is refused like a corrupt file).
    func checkWeights(of network: any Network, path: String) throws {
        var names: [String] = []
        for p in network.parameters {
            try section("value:" + p.name, bytes: p.count * 4)
            names.append("value:" + p.name)
        }
        for bn in network.norms {
            try section("running_mean:" + bn.gamma.name, bytes: bn.maxChannels * 4)
            try section("running_var:" + bn.gamma.name, bytes: bn.maxChannels * 4)
            names += ["running_mean:" + bn.gamma.name, "running_var:" + bn.gamma.name]
        }
        for name in names where try !allFinite(name) {
            throw RunError.badCheckpoint(path: path, reason: "tensor \(name) holds non-finite values (a diverged state)")
        }
    }

    /// Parameter values and BN running statistics into `network` (gradients cleared).
    func readWeights(into network: any Network) throws {
        for p in network.parameters {
            try readFloats("value:" + p.name, into: p.value, count: p.count)
            p.zeroGradient()
        }
        for bn in network.norms {
            try readFloats("running_mean:" + bn.gamma.name, into: bn.runningMean, count: bn.maxChannels)
            try readFloats("running_var:" + bn.gamma.name, into: bn.runningVariance, count: bn.maxChannels)
        }
    }
}

extension Supernet {
    /// The supernet of a training run for reading (search, correlate, export): weights and
    /// BN running statistics of the newest checkpoint of `dir` that loads, and nothing of
    /// the training state (no optimizer buffers, sampler or data). A corrupt or truncated
    /// newer checkpoint is reported through `warn` and skipped. Returns the checkpoint's path.
    public static func trained(_ dir: RunDirectory, space: SearchSpace, engine: Engine = Engine(),
                               warn: (String) -> Void) throws -> (Supernet, checkpoint: String) {
        let network = Supernet(space: space, rng: RNG(seed: 0), engine: engine)
        for (_, path) in dir.checkpoints() {
            do {
                let (_, reader) = try CheckpointHeader.open(try Data(contentsOf: URL(fileURLWithPath: path)), path: path, space: space)
                try reader.checkWeights(of: network, path: path)
                try reader.readWeights(into: network)
                return (network, path)
            } catch {
                warn("warning: \(error); trying an older checkpoint")
            }
        }
        throw RunError.noCheckpoint(directory: dir.checkpointDirectory)
    }
}
