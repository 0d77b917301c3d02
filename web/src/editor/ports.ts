// Which port wiring is legal: the same rule as tessera.workflows.ports.connects.

export function isList(t: string): boolean {
  return t.startsWith("list[") && t.endsWith("]");
}

export function elementType(t: string): string {
  return isList(t) ? t.slice(5, -1) : t;
}

/**
 * How an output of type `output` feeds an input of type `input`: "whole", "each" (a mapped
 * step's elements one to one), "gather" (all elements into a list), or null when the types do
 * not fit.
 */
export function connects(output: string, input: string, mappedSource: boolean): "whole" | "each" | "gather" | null {
  if (input === "any") return mappedSource ? "each" : "whole";
  if (mappedSource) {
    if (isList(input) && !isList(output) && elementType(input) === output) return "gather";
    return output === input ? "each" : null;
  }
  return output === input ? "whole" : null;
}
