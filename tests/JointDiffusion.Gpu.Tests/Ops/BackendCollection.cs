namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// The xunit collection that shares one <see cref="BackendFixture"/> among all op test classes. Tests in a
/// collection run one after another, which also keeps the ILGPU CPU accelerator to one kernel at a time.
/// </summary>
[CollectionDefinition(Name)]
public sealed class BackendCollection : ICollectionFixture<BackendFixture>
{
    /// <summary>The collection name for <c>[Collection]</c>.</summary>
    public const string Name = "Backends";
}
