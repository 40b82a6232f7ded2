import { Component, type ReactNode } from 'react';

/**
 * Catches a page that fails to draw (a code chunk that could not load because the server went
 * away, or a bug) so the rest of the app stays usable and the reason is shown, not a blank area.
 */
export class PageErrorBoundary extends Component<
  { children: ReactNode; message: (error: Error) => string; reloadLabel: string },
  { error: Error | null }
> {
  state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <div className="alert alert-error" role="alert">
        <p>{this.props.message(error)}</p>
        <button type="button" className="btn" onClick={() => window.location.reload()}>
          {this.props.reloadLabel}
        </button>
      </div>
    );
  }
}
