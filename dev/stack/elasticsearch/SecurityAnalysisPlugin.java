// The three analysis components Elasticsearch's security index needs and the integ-test-zip
// lacks (they live in the analysis-common module, which Maven Central does not carry):
// the `uax_url_email` tokenizer and the `pattern_capture` and `unique` token filters. Without
// them the `.security` index cannot be created, so API keys, native users and roles fail with
// "Unknown filter type [pattern_capture]". dev/stack/stack.sh compiles this file against the
// distribution's own jars and installs it as a module of the elasticsearch-secure engine only;
// the Lucene classes underneath are the same ones analysis-common uses.

package netsensor.stack;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

public class SecurityAnalysisPlugin extends Plugin implements AnalysisPlugin {
    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("uax_url_email", (indexSettings, env, name, settings) -> {
            final int maxTokenLength = settings.getAsInt("max_token_length", 255);
            return TokenizerFactory.newFactory(name, () -> {
                UAX29URLEmailTokenizer tokenizer = new UAX29URLEmailTokenizer();
                tokenizer.setMaxTokenLength(maxTokenLength);
                return tokenizer;
            });
        });
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "pattern_capture", AnalysisPlugin.requiresAnalysisSettings(PatternCapture::new),
            "unique", Unique::new);
    }

    /** `pattern_capture`: emits every capture group of every pattern (Lucene's filter). */
    static final class PatternCapture extends AbstractTokenFilterFactory {
        private final Pattern[] patterns;
        private final boolean preserveOriginal;

        PatternCapture(org.elasticsearch.index.IndexSettings indexSettings,
                org.elasticsearch.env.Environment env, String name,
                org.elasticsearch.common.settings.Settings settings) {
            super(name, settings);
            final List<String> regexes = settings.getAsList("patterns");
            if (regexes.isEmpty()) {
                throw new IllegalArgumentException(
                    "required setting 'patterns' is missing for token filter [" + name + "]");
            }
            patterns = regexes.stream().map(Pattern::compile).toArray(Pattern[]::new);
            preserveOriginal = settings.getAsBoolean("preserve_original", true);
        }

        @Override
        public TokenStream create(TokenStream stream) {
            return new PatternCaptureGroupTokenFilter(stream, preserveOriginal, patterns);
        }
    }

    /** `unique`: drops a term seen before in the same stream (or at the same position). */
    static final class Unique extends AbstractTokenFilterFactory {
        private final boolean onlyOnSamePosition;

        Unique(org.elasticsearch.index.IndexSettings indexSettings,
                org.elasticsearch.env.Environment env, String name,
                org.elasticsearch.common.settings.Settings settings) {
            super(name, settings);
            onlyOnSamePosition = settings.getAsBoolean("only_on_same_position", false);
        }

        @Override
        public TokenStream create(TokenStream stream) {
            return new UniqueFilter(stream, onlyOnSamePosition);
        }
    }

    static final class UniqueFilter extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final PositionIncrementAttribute posInc =
            addAttribute(PositionIncrementAttribute.class);
        private final CharArraySet seen = new CharArraySet(8, false);
        private final boolean onlyOnSamePosition;

        UniqueFilter(TokenStream in, boolean onlyOnSamePosition) {
            super(in);
            this.onlyOnSamePosition = onlyOnSamePosition;
        }

        @Override
        public boolean incrementToken() throws IOException {
            while (input.incrementToken()) {
                if (onlyOnSamePosition && posInc.getPositionIncrement() > 0) {
                    seen.clear();
                }
                final char[] buffer = term.buffer();
                final int length = term.length();
                if (!seen.contains(buffer, 0, length)) {
                    final char[] copy = new char[length];
                    System.arraycopy(buffer, 0, copy, 0, length);
                    seen.add(copy);
                    return true;
                }
            }
            return false;
        }

        @Override
        public void reset() throws IOException {
            super.reset();
            seen.clear();
        }
    }
}
