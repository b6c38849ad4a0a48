// @types/react-dom is not installed; the tests need only this much of react-dom.
declare module 'react-dom/client' {
  import type { ReactNode } from 'react';
  export interface Root {
    render(children: ReactNode): void;
    unmount(): void;
  }
  export function createRoot(container: Element): Root;
  export function hydrateRoot(
    container: Element,
    children: ReactNode,
    options?: { onRecoverableError?: (error: unknown) => void },
  ): Root;
}
declare module 'react-dom/server' {
  import type { ReactNode } from 'react';
  export function renderToString(children: ReactNode): string;
}
