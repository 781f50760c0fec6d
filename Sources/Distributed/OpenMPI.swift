import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// OpenMPI's C API, loaded at run time from libmpi.so.40. Its predefined handles
/// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of global objects of the
/// library (`ompi_mpi_comm_world`, ...), which is OpenMPI's ABI; MPICH's differ.
final class OpenMPI: Communicator {
    typealias Handle = UnsafeMutableRawPointer
    private typealias InitFn = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32
    private typealias CommIntFn = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    private typealias AllreduceFn = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
    private typealias AllgatherFn = @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?, Int32, Handle, Handle) -> Int32
    private typealias AllgathervFn = @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Handle, Handle) -> Int32
    private typealias CommFn = @convention(c) (Handle) -> Int32
    private typealias VoidFn = @convention(c) () -> Int32

    let rank: Int
    let size: Int
    private let world, float, double, int32, sum: Handle
    private let allreduceFn: AllreduceFn
    private let allgatherFn: AllgatherFn
    private let allgathervFn: AllgathervFn
    private let barrierFn: CommFn
    private let finalizeFn: VoidFn

    init() throws {
        // RTLD_GLOBAL: OpenMPI's own plugins resolve symbols of libmpi.
        guard let lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL) ?? dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL) else {
            throw DistributedError.runtimeMissing(String(cString: dlerror()))
        }
        func symbol(_ name: String) throws -> Handle {
            guard let p = dlsym(lib, name) else { throw DistributedError.runtimeMissing("no symbol \(name): not OpenMPI's libmpi") }
            return p
        }
        func function<T>(_ name: String, _ type: T.Type) throws -> T { unsafeBitCast(try symbol(name), to: type) }
        world = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        double = try symbol("ompi_mpi_double")
        int32 = try symbol("ompi_mpi_int")
        sum = try symbol("ompi_mpi_op_sum")
        allreduceFn = try function("MPI_Allreduce", AllreduceFn.self)
        allgatherFn = try function("MPI_Allgather", AllgatherFn.self)
        allgathervFn = try function("MPI_Allgatherv", AllgathervFn.self)
        barrierFn = try function("MPI_Barrier", CommFn.self)
        finalizeFn = try function("MPI_Finalize", VoidFn.self)
        let initFn = try function("MPI_Init", InitFn.self)
        try Self.check("MPI_Init", initFn(nil, nil))
        var r: Int32 = 0, s: Int32 = 0
        try Self.check("MPI_Comm_rank", try function("MPI_Comm_rank", CommIntFn.self)(world, &r))
        try Self.check("MPI_Comm_size", try function("MPI_Comm_size", CommIntFn.self)(world, &s))
        rank = Int(r)
        size = Int(s)
        // Every rank finalizes at exit, however the command ends.
        OpenMPI.finalizeAtExit = finalizeFn
        atexit { _ = OpenMPI.finalizeAtExit?() }
    }

    nonisolated(unsafe) private static var finalizeAtExit: VoidFn?

    private static func check(_ name: String, _ code: Int32) throws {
        guard code == 0 else { throw DistributedError.call(name, code) }
    }

    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        // MPI_IN_PLACE is (void *) 1 in OpenMPI.
        try Self.check("MPI_Allreduce", allreduceFn(UnsafeRawPointer(bitPattern: 1), buffer, Int32(count), float, sum, world))
    }

    func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        try Self.check("MPI_Allreduce", allreduceFn(UnsafeRawPointer(bitPattern: 1), buffer, Int32(count), double, sum, world))
    }

    func allgather(_ values: [Double]) throws -> [[Double]] {
        var mine = Int32(values.count)
        var counts = [Int32](repeating: 0, count: size)
        try Self.check("MPI_Allgather", allgatherFn(&mine, 1, int32, &counts, 1, int32, world))
        var offsets = [Int32](repeating: 0, count: size)
        for i in 1..<max(size, 1) { offsets[i] = offsets[i - 1] + counts[i - 1] }
        var all = [Double](repeating: 0, count: Int(counts.reduce(0, +)))
        try values.withUnsafeBufferPointer { v in
            try Self.check("MPI_Allgatherv", allgathervFn(v.baseAddress, mine, double, &all, counts, offsets, double, world))
        }
        return (0..<size).map { Array(all[Int(offsets[$0])..<Int(offsets[$0] + counts[$0])]) }
    }

    func barrier() throws { try Self.check("MPI_Barrier", barrierFn(world)) }
}
