import ArgumentParser
import Foundation
import TensorCore

@main
struct Pare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pare",
        abstract: "Find small, fast convolutional networks on a CPU: one-shot NAS and channel pruning.",
        subcommands: [TrainCommand.self, SearchCommand.self, ExportCommand.self, FinetuneCommand.self, EvalCommand.self,
                      LatencyCommand.self, CorrelateCommand.self, InfoCommand.self, BenchCommand.self])
}

/// Process start-up shared by every subcommand: pick OpenBLAS's fast kernels, set threads.
/// BLAS set up, and the engine settings every network of the command is built with.
func startEngine(threads: Int?) -> Engine {
    BLAS.configure()
    return Engine(threads: threads ?? Engine.availableCores)
}

/// Prints to stderr, line-buffered (progress and log lines; stdout carries results).
func logLine(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// A user-facing failure: one line on stderr, exit code 1, no trace.
struct UserError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs `body`, turning thrown errors into one clean line and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as CleanExit {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch {
        logLine("error: \(error)")
        throw ExitCode(1)
    }
}
