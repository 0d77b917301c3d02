// The component registry as the editor's nodes see it.
import { createContext } from "react";
import type { ComponentInfo } from "./model";

export const ComponentsContext = createContext<Map<string, ComponentInfo>>(new Map());
