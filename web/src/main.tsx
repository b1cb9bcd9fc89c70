import { render } from 'preact';
import './styles.css';
import { boot } from './lib/client';
import { App } from './ui/App';

render(<App />, document.getElementById('app')!);
void boot();
