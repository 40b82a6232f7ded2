import { createContext } from 'react';
import type { Theme } from './settings';

/** The current colour theme, for components that draw with computed colours (graphs). */
export const ThemeContext = createContext<Theme>('light');
