using Studio.Ml.Toy;

namespace Studio.Core.Prompts;

/// <summary>The categories a prompt can be assigned: the paper's three criteria, semantics split as T2I-CompBench splits it.</summary>
public static class PromptCategories
{
    public static readonly string[] Known =
    [
        .. ToyCriteria.Categories,
        "semantics/shape", "semantics/texture", "semantics/non-spatial", "semantics/3d-spatial", "semantics/complex",
    ];
}
