# bash completion for viztrace: subcommands, their options, report files by extension, and the
# traced command after `viztrace run` / `viztrace span NAME`. Installed as
# share/bash-completion/completions/viztrace; works with or without the bash-completion package.

_viztrace_files() {  # files whose names end in one of the given extensions, and directories
  local cur=$1 ext f
  shift
  local IFS=$'\n'
  COMPREPLY=()
  for f in $(compgen -f -- "$cur"); do
    if [[ -d $f ]]; then
      COMPREPLY+=("$f/")
      continue
    fi
    for ext in "$@"; do
      [[ $f == *"$ext" ]] && COMPREPLY+=("$f") && break
    done
  done
  compopt -o nospace -o filenames 2>/dev/null
}

_viztrace_command_at() {  # completes words[i...] as a command line of its own
  local i=$1
  if declare -F _command_offset >/dev/null; then
    _command_offset "$i"
  elif ((COMP_CWORD == i)); then
    COMPREPLY=($(compgen -c -- "${COMP_WORDS[COMP_CWORD]}"))
  else
    COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
    compopt -o filenames 2>/dev/null
  fi
}

_viztrace() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local commands="run report recover clean convert stats combine mark span counter"
  local global="-h --help --version -v --verbose"
  local reports=(.json .json.gz .pftrace .html .speedscope.json)
  local filters="--min-duration --include --exclude"

  # The subcommand: the first word after any global options.
  local i sub="" at=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -v | --verbose) ;;
      -*) ;;
      *) sub=${COMP_WORDS[i]}; at=$i; break ;;
    esac
  done
  if [[ -z $sub ]]; then
    COMPREPLY=($(compgen -W "$commands $global" -- "$cur"))
    return
  fi

  local opts
  case $sub in
    run) opts="-o --output -q --quiet --keep-temp --linger --sample --max-stack-depth --clock $filters" ;;
    report | recover) opts="-o --output -q --quiet $filters" ;;
    clean) opts="-n --dry-run --kept" ;;
    convert) opts="-q --quiet" ;;
    stats) opts="--sort --top --json" ;;
    combine) opts="-o --output --align -q --quiet" ;;
    *) opts="" ;;
  esac
  opts+=" -h --help -v --verbose"

  # run and span: after `--` or the first plain word (span: the second), a command of its own.
  local need=0 plain=0
  [[ $sub == run ]] && need=1
  [[ $sub == span ]] && need=2
  if ((need)); then
    for ((i = at + 1; i < COMP_CWORD; i++)); do
      case ${COMP_WORDS[i]} in
        --) _viztrace_command_at $((i + 1)); return ;;
        -o | --output | --linger | --max-stack-depth | --clock | --min-duration | --include | \
          --exclude) ((i++)) ;;
        -*) ;;
        *)
          if ((++plain == need)); then
            _viztrace_command_at "$i"
            return
          fi
          ;;
      esac
    done
  fi

  case $prev in
    -o | --output)
      if [[ $sub == combine ]]; then
        _viztrace_files "$cur" .json .json.gz
      else
        _viztrace_files "$cur" "${reports[@]}"
      fi
      return
      ;;
    --clock) COMPREPLY=($(compgen -W "auto monotonic" -- "$cur")); return ;;
    --sort) COMPREPLY=($(compgen -W "self total count max name" -- "$cur")); return ;;
    --linger | --max-stack-depth | --min-duration | --include | --exclude | --top) return ;;
  esac

  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  if ((need)); then
    ((plain == need - 1)) && _viztrace_command_at "$COMP_CWORD"
    return
  fi
  case $sub in
    report) COMPREPLY=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null ;;
    stats | combine) _viztrace_files "$cur" .json .json.gz ;;
    convert)
      local given=0
      for ((i = at + 1; i < COMP_CWORD; i++)); do
        [[ ${COMP_WORDS[i]} != -* ]] && ((given++))
      done
      if ((given == 0)); then
        _viztrace_files "$cur" .json .json.gz
      else
        _viztrace_files "$cur" "${reports[@]}"
      fi
      ;;
  esac
}

complete -F _viztrace viztrace
